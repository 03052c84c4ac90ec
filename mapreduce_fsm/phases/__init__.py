"""Phase execution: the types, the registry, the coordinator and the built-in phases.

The names below are imported on first use: `from mapreduce_fsm.phases.machine import ...`
(as `jobs` and `status` do) then loads the machine alone, not every phase and the step
runner behind them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "CheckpointKeeper": "context", "PhaseContext": "context", "RunOptions": "context",
    "PhaseCoordinator": "coordinator", "WorkflowResult": "coordinator",
    "MapPhase": "map", "ReducePhase": "reduce", "SetupPhase": "setup",
    "build_phases": "registry", "phase_type": "registry", "register_phase": "registry",
    "run_phase_steps": "steps", "steps_result": "steps",
    **dict.fromkeys(
        ("Complete", "Continue", "DefaultTransitionHandler", "Error", "PhaseError",
         "PhaseExecutor", "PhaseMetrics", "PhaseResult", "PhaseTransition",
         "PhaseTransitionHandler", "Skip"),
        "types",
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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
