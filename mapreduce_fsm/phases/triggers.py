"""How the driver loop turns a phase's result into the trigger that moves the job on."""

from __future__ import annotations

from typing import Any

from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.types import (
    Complete,
    Continue,
    Error,
    PhaseError,
    PhaseResult,
    PhaseTransitionHandler,
    Skip,
)


def next_trigger(
    handler: PhaseTransitionHandler, result: PhaseResult
) -> tuple[str, dict[str, Any]]:
    """Turn a phase result into the trigger that moves the job on."""
    if result.outcome == "completed":
        handler.on_phase_complete(result.phase, result)
        return (fsm.COMPLETE if result.finish_workflow else fsm.CONTINUE), {}
    if result.outcome == "skipped":
        return fsm.SKIP, {"reason": result.data.get("reason")}
    if result.outcome == "paused":
        return fsm.PAUSE, {"reason": result.data.get("reason")}
    error = PhaseError(phase=result.phase, message=result.error or "failed", result=result)
    decision = handler.on_phase_error(result.phase, error)
    if isinstance(decision, Error):
        return fsm.ERROR, {"reason": decision.error.message}
    if isinstance(decision, Skip):
        return fsm.SKIP, {"reason": decision.reason}
    if isinstance(decision, Complete):
        return fsm.COMPLETE, {"reason": f"{result.phase} failed; handler completed the job"}
    assert isinstance(decision, Continue)
    return fsm.CONTINUE, {"reason": f"{result.phase} failed; handler continued"}
