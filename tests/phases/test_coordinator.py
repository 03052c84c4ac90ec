"""The coordinator: every move by a trigger, checkpointed; handlers steer; resume from any state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mapreduce_fsm.phases import (
    Complete,
    Continue,
    DefaultTransitionHandler,
    PhaseContext,
    PhaseCoordinator,
    PhaseError,
    PhaseTransition,
    Skip,
)
from mapreduce_fsm.phases.coordinator import interrupted_result
from tests.phases.harness import ScriptedPhase, minimal_workflow, new_store


def coordinator(tmp_path: Path, *phases: ScriptedPhase, **kwargs: object) -> PhaseCoordinator:
    return PhaseCoordinator(phases=list(phases), store=new_store(tmp_path), **kwargs)  # type: ignore[arg-type]


def moves(c: PhaseCoordinator) -> list[tuple[str, str, str]]:
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None
    return [(t.trigger, t.source, t.dest) for t in checkpoint.history]


def test_all_phases_complete_in_order(tmp_path: Path) -> None:
    a, b = ScriptedPhase("a"), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b)
    result = asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert (result.state, result.exit_code) == ("completed", 0)
    assert moves(c) == [("start", "pending", "a"), ("continue_", "a", "b"),
                        ("continue_", "b", "completed")]
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None
    assert {n: p.status for n, p in checkpoint.phases.items()} == {"a": "completed",
                                                                  "b": "completed"}


def test_can_skip_goes_through_the_skip_edge(tmp_path: Path) -> None:
    a, b = ScriptedPhase("a", skip_reason="no steps"), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b)
    asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert moves(c)[1] == ("skip", "a", "b")
    assert a.runs == 0


def test_failure_moves_to_failed_and_names_the_error(tmp_path: Path) -> None:
    a, b = ScriptedPhase("a", ["failed"]), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b)
    result = asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert (result.state, result.exit_code, result.error) == ("failed", 1, "a broke")
    assert b.runs == 0
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None and checkpoint.resume_phase == "a"


def test_finish_workflow_completes_early(tmp_path: Path) -> None:
    a, b = ScriptedPhase("a", ["finish"]), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b)
    result = asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert result.state == "completed" and b.runs == 0
    assert moves(c)[-1] == ("complete", "a", "completed")


class Steering(DefaultTransitionHandler):
    def __init__(self, decision: PhaseTransition, skip: str | None = None) -> None:
        self.decision, self.skip, self.completed = decision, skip, []  # type: list[str]

    def should_execute(self, phase: str, context: PhaseContext) -> bool:
        return phase != self.skip

    def on_phase_complete(self, phase: str, result: object) -> None:
        self.completed.append(phase)

    def on_phase_error(self, phase: str, error: PhaseError) -> PhaseTransition:
        return self.decision


@pytest.mark.parametrize(
    ("decision", "trigger", "b_runs", "final"),
    [
        (Skip(phase="a", reason="optional"), "skip", 1, "completed"),
        (Continue(), "continue_", 1, "completed"),
        (Complete(), "complete", 0, "completed"),
    ],
)
def test_on_phase_error_can_turn_an_error_into_another_transition(
    tmp_path: Path, decision: PhaseTransition, trigger: str, b_runs: int, final: str
) -> None:
    a, b = ScriptedPhase("a", ["failed"]), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b, handler=Steering(decision))
    result = asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert moves(c)[1][:2] == (trigger, "a")
    assert (result.state, b.runs) == (final, b_runs)


def test_should_execute_false_skips_and_on_phase_complete_sees_the_rest(tmp_path: Path) -> None:
    handler = Steering(Continue(), skip="a")
    a, b = ScriptedPhase("a"), ScriptedPhase("b")
    c = coordinator(tmp_path, a, b, handler=handler)
    asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert a.runs == 0 and moves(c)[1] == ("skip", "a", "b")
    assert handler.completed == ["b"]


def test_resume_after_failure_re_runs_the_failed_phase_only(tmp_path: Path) -> None:
    a, b = ScriptedPhase("a"), ScriptedPhase("b", ["failed"])
    c = coordinator(tmp_path, a, b)
    asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "failed"
    again = PhaseCoordinator(phases=[a, b], store=c.store)
    result = asyncio.run(again.resume_from_checkpoint(checkpoint, minimal_workflow()))
    assert result.state == "completed"
    assert (a.runs, b.runs) == (1, 2)
    assert moves(again)[-2:] == [("resume", "failed", "b"), ("continue_", "b", "completed")]


def test_pause_then_resume(tmp_path: Path) -> None:
    a = ScriptedPhase("a", ["paused"])
    c = coordinator(tmp_path, a)
    result = asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    assert (result.state, result.exit_code) == ("paused", 3)
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None
    result = asyncio.run(PhaseCoordinator(phases=[a], store=c.store)
                         .resume_from_checkpoint(checkpoint, minimal_workflow()))
    assert result.state == "completed" and a.runs == 2


def test_resume_of_a_completed_job_has_nothing_to_do(tmp_path: Path) -> None:
    a = ScriptedPhase("a")
    c = coordinator(tmp_path, a)
    asyncio.run(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None
    result = asyncio.run(c.resume_from_checkpoint(checkpoint, minimal_workflow()))
    assert result.nothing_to_do and result.exit_code == 0 and a.runs == 1


def test_interrupted_mid_phase_is_checkpointed_in_that_phase_and_resumes_into_it(
    tmp_path: Path,
) -> None:
    a, b = ScriptedPhase("a"), ScriptedPhase("b")

    async def interrupt() -> object:
        b.block = asyncio.Event()
        task = asyncio.create_task(c.execute_workflow(minimal_workflow(), working_dir=tmp_path))
        while b.runs == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        return await task

    c = coordinator(tmp_path, a, b)
    with pytest.raises(asyncio.CancelledError):  # the cancel leaves the run, not a result
        asyncio.run(interrupt())
    checkpoint = c.store.load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "b"
    assert checkpoint.phases["b"].status == "running"
    assert interrupted_result(c.store).exit_code == 130
    b.block = None
    result = asyncio.run(PhaseCoordinator(phases=[a, b], store=c.store)
                         .resume_from_checkpoint(checkpoint, minimal_workflow()))
    assert result.state == "completed"  # type: ignore[attr-defined]
    assert (a.runs, b.runs) == (1, 2)


def test_phase_names_must_be_unique_and_not_reserved(tmp_path: Path) -> None:
    from mapreduce_fsm.errors import MapReduceError

    with pytest.raises(MapReduceError, match="failed"):
        coordinator(tmp_path, ScriptedPhase("failed"))
