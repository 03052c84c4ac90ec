"""A resumed map reads only ids and statuses of the results already done, never whole results.

A job of 100,000 items with 99,000 done must start its next item at once: parsing 99,000
whole results took a second and 60 MB (issue 13). These tests make parsing whole results
fail, then resume a map interrupted part way, and a completed job.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.console.interaction import NonInteractive
from mapreduce_fsm.phases import PhaseCoordinator, build_phases
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore
from mapreduce_fsm.state.journal import ResultsJournal

# Items a and b end at once; c and d sleep until a file named `fast` exists.
PART_SLOW = """\
name: part-slow
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "case ${item} in a|b) ;; *) test -e fast || sleep 5;; esac"
"""


def coordinator_for(tmp_path: Path, store: JobStore) -> PhaseCoordinator:
    workflow = load_workflow_text(PART_SLOW, filename=str(tmp_path / "wf.yml"), environ={})
    return PhaseCoordinator(phases=build_phases(workflow), store=store,
                            interaction=NonInteractive(quiet=True),
                            options=RunOptions(kill_grace_secs=0.5))


def refuse_whole_results(monkeypatch: pytest.MonkeyPatch) -> None:
    def whole_results(self: ResultsJournal) -> object:
        raise AssertionError(f"parsed every whole result of {self.path}")

    monkeypatch.setattr(ResultsJournal, "load", whole_results)


async def interrupted_after_two(tmp_path: Path) -> JobStore:
    (tmp_path / "items.json").write_text('["a", "b", "c", "d"]', encoding="utf-8")
    workflow = load_workflow_text(PART_SLOW, filename=str(tmp_path / "wf.yml"), environ={})
    store = JobStore.create(tmp_path / "state", "job-1", PART_SLOW)
    coordinator = coordinator_for(tmp_path, store)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):
            await coordinator.execute_workflow(workflow, working_dir=tmp_path,
                                               workflow_text=PART_SLOW)
    store.close()
    return store


def test_a_resumed_map_and_a_resumed_completed_job_read_no_whole_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = asyncio.run(interrupted_after_two(tmp_path))
    assert set(store.results.statuses()) == {"item-0", "item-1"}  # the test's premise
    (tmp_path / "fast").touch()
    refuse_whole_results(monkeypatch)
    workflow = load_workflow_text(PART_SLOW, filename=str(tmp_path / "wf.yml"), environ={})
    for _ in range(2):  # the interrupted map, then the completed job
        resumed = JobStore.open(tmp_path / "state", "job-1")
        checkpoint = resumed.load_checkpoint()
        assert checkpoint is not None
        try:
            result = asyncio.run(
                coordinator_for(tmp_path, resumed).resume_from_checkpoint(checkpoint, workflow))
        finally:
            resumed.close()
        assert (result.state, result.exit_code, result.items_total) == ("completed", 0, 4)
    assert set(JobStore.open(tmp_path / "state", "job-1").results.statuses()) == {
        "item-0", "item-1", "item-2", "item-3"}
