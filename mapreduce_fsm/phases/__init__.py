"""Phase execution: the types, the registry, the coordinator and the built-in phases."""

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
