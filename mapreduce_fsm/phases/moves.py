"""What one move of the machine changes in the checkpoint: phase statuses, resume phase, history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.state import Checkpoint, PhaseProgress, PhaseStatus, TransitionRecord

# The status a phase is left with, by the trigger that leaves it.
LEAVING_STATUS: dict[str, PhaseStatus] = {
    fsm.CONTINUE: "completed",
    fsm.COMPLETE: "completed",
    fsm.SKIP: "skipped",
    fsm.ERROR: "failed",
    fsm.PAUSE: "paused",
}


def recorded_move(checkpoint: Checkpoint, phase_names: Sequence[str], *, trigger: str,
                  source: str, dest: str, reason: str | None, at: str) -> dict[str, Any]:
    """The checkpoint fields after moving from `source` to `dest` by `trigger`, at `at`.

    The phase left gets its leaving status (and the error, for `error`); the phase entered
    is running, afresh unless the move is a resume; a move to failed or paused makes the
    phase left the one to resume; the move joins the history.
    """
    phases = dict(checkpoint.phases)
    if source in phase_names and trigger in LEAVING_STATUS:
        error = reason if trigger == fsm.ERROR else phases.get(source, PhaseProgress()).error
        phases[source] = attrs.evolve(
            phases.get(source, PhaseProgress()), status=LEAVING_STATUS[trigger],
            finished_at=at, error=error,
        )
    if dest in phase_names:
        previous = phases.get(dest, PhaseProgress())
        fresh = trigger != fsm.RESUME
        phases[dest] = attrs.evolve(
            PhaseProgress() if fresh else previous, status="running",
            started_at=at if fresh or previous.started_at is None else previous.started_at,
            error=None,
        )
    resume_phase = source if dest in (fsm.FAILED, fsm.PAUSED) else checkpoint.resume_phase
    history = (*checkpoint.history,
               TransitionRecord(trigger=trigger, source=source, dest=dest, at=at, reason=reason))
    return {"state": dest, "phases": phases, "resume_phase": resume_phase, "history": history}
