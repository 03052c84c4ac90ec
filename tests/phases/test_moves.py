"""What one move of the machine writes into the checkpoint."""

from __future__ import annotations

import attrs

from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.moves import recorded_move
from mapreduce_fsm.state import Checkpoint, PhaseProgress

PHASES = ["setup", "map", "reduce"]


def checkpoint(**fields: object) -> Checkpoint:
    base = Checkpoint(job_id="j", workflow_name="w", workflow_digest="d", state="map",
                      phase_order=tuple(PHASES), created_at="t0", updated_at="t0",
                      working_dir=".")
    return attrs.evolve(base, **fields)


def test_an_error_fails_the_phase_left_and_makes_it_the_one_to_resume() -> None:
    before = checkpoint(phases={"map": PhaseProgress(status="running", started_at="t1")})
    move = recorded_move(before, PHASES, trigger=fsm.ERROR, source="map", dest=fsm.FAILED,
                         reason="boom", at="t2")
    assert move["state"] == fsm.FAILED and move["resume_phase"] == "map"
    left = move["phases"]["map"]
    assert (left.status, left.error, left.finished_at, left.started_at) == (
        "failed", "boom", "t2", "t1")
    assert move["history"][-1].trigger == fsm.ERROR and move["history"][-1].reason == "boom"
    assert before.phases["map"].status == "running"  # the checkpoint given is not changed


def test_a_resume_keeps_the_phase_progress_and_a_fresh_entry_starts_over() -> None:
    progress = PhaseProgress(status="failed", started_at="t1", next_step=2, error="boom")
    before = checkpoint(state=fsm.FAILED, resume_phase="map", phases={"map": progress})
    resumed = recorded_move(before, PHASES, trigger=fsm.RESUME, source=fsm.FAILED,
                            dest="map", reason=None, at="t3")["phases"]["map"]
    assert (resumed.status, resumed.started_at, resumed.next_step, resumed.error) == (
        "running", "t1", 2, None)
    fresh = recorded_move(before, PHASES, trigger=fsm.RETRY_ITEMS, source=fsm.FAILED,
                          dest="map", reason=None, at="t3")["phases"]["map"]
    assert (fresh.status, fresh.started_at, fresh.next_step) == ("running", "t3", 0)


def test_continuing_completes_the_phase_left_and_keeps_the_resume_phase() -> None:
    before = checkpoint(state="setup", resume_phase=None,
                        phases={"setup": PhaseProgress(status="running", started_at="t1")})
    move = recorded_move(before, PHASES, trigger=fsm.CONTINUE, source="setup", dest="map",
                         reason=None, at="t2")
    assert move["phases"]["setup"].status == "completed"
    assert move["phases"]["map"].status == "running" and move["resume_phase"] is None
