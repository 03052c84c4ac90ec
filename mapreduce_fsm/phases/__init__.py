"""Phase execution: the types, the registry, the coordinator and the built-in phases.

The names below are imported on first use: `from mapreduce_fsm.phases.machine import ...`
(as `jobs` and `status` do) then loads the machine alone, not every phase and the step
runner behind them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mapreduce_fsm import lazy_names

if TYPE_CHECKING:
    from mapreduce_fsm.phases.context import CheckpointKeeper, PhaseContext, RunOptions
    from mapreduce_fsm.phases.coordinator import PhaseCoordinator, WorkflowResult
    from mapreduce_fsm.phases.map import MapPhase
    from mapreduce_fsm.phases.reduce import ReducePhase
    from mapreduce_fsm.phases.registry import build_phases, phase_type, register_phase
    from mapreduce_fsm.phases.setup import SetupPhase
    from mapreduce_fsm.phases.steps import run_phase_steps, steps_result
    from mapreduce_fsm.phases.types import (
        Complete,
        Continue,
        DefaultTransitionHandler,
        Error,
        PhaseError,
        PhaseExecutor,
        PhaseMetrics,
        PhaseResult,
        PhaseTransition,
        PhaseTransitionHandler,
        Skip,
    )

_MODULE_OF = {
    "CheckpointKeeper": ".context", "PhaseContext": ".context", "RunOptions": ".context",
    "PhaseCoordinator": ".coordinator", "WorkflowResult": ".coordinator",
    "MapPhase": ".map", "ReducePhase": ".reduce", "SetupPhase": ".setup",
    "build_phases": ".registry", "phase_type": ".registry", "register_phase": ".registry",
    "run_phase_steps": ".steps", "steps_result": ".steps",
    **dict.fromkeys(
        ("Complete", "Continue", "DefaultTransitionHandler", "Error", "PhaseError",
         "PhaseExecutor", "PhaseMetrics", "PhaseResult", "PhaseTransition",
         "PhaseTransitionHandler", "Skip"),
        ".types",
    ),
}

__all__ = [
    "CheckpointKeeper",
    "Complete",
    "Continue",
    "DefaultTransitionHandler",
    "Error",
    "MapPhase",
    "PhaseContext",
    "PhaseCoordinator",
    "PhaseError",
    "PhaseExecutor",
    "PhaseMetrics",
    "PhaseResult",
    "PhaseTransition",
    "PhaseTransitionHandler",
    "ReducePhase",
    "RunOptions",
    "SetupPhase",
    "Skip",
    "WorkflowResult",
    "build_phases",
    "phase_type",
    "register_phase",
    "run_phase_steps",
    "steps_result",
]


__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
