"""A cancel leaves a real run (real `sh` steps) after its checkpoint is written; it then resumes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.console.interaction import NonInteractive
from mapreduce_fsm.jobs.run import Services, resume_job, run_workflow
from mapreduce_fsm.phases import PhaseCoordinator, build_phases
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore

# Each item sleeps 5 s until a file named `fast` exists, then succeeds at once.
SLOW = """\
name: slow
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "test -e fast || sleep 5"
reduce:
  - shell: "echo reduced >> reduce.log"
"""
GENEROUS_SECS = 30  # the timeout is 1 s; this only catches a run that ignores the cancel


def start_slow_job(tmp_path: Path) -> tuple[JobStore, PhaseCoordinator]:
    """Create the job with a coordinator of our own, so the test can reuse that object."""
    (tmp_path / "wf.yml").write_text(SLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b", "c"]', encoding="utf-8")
    workflow = load_workflow_text(SLOW, filename=str(tmp_path / "wf.yml"), environ={})
    store = JobStore.create(tmp_path / "state", "job-1", SLOW)
    coordinator = PhaseCoordinator(
        phases=build_phases(workflow), store=store, interaction=NonInteractive(quiet=True),
        options=RunOptions(kill_grace_secs=0.5),
    )
    return store, coordinator


async def run_with_timeout(coordinator: PhaseCoordinator, tmp_path: Path) -> float:
    workflow = load_workflow_text(SLOW, filename=str(tmp_path / "wf.yml"), environ={})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await coordinator.execute_workflow(workflow, working_dir=tmp_path,
                                               workflow_text=SLOW)
    return time.monotonic() - started


def assert_interrupted_in_map(store: JobStore) -> None:
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.state == "map"
    assert checkpoint.phases["map"].status == "running"
    assert "reduce" not in checkpoint.phases  # reduce never started


def test_a_timeout_leaves_the_job_in_its_phase_and_the_same_coordinator_resumes_it(
    tmp_path: Path,
) -> None:
    store, coordinator = start_slow_job(tmp_path)
    try:
        elapsed = asyncio.run(run_with_timeout(coordinator, tmp_path))
        assert elapsed < GENEROUS_SECS
        assert_interrupted_in_map(store)
        (tmp_path / "fast").touch()
        checkpoint = store.load_checkpoint()
        assert checkpoint is not None
        workflow = load_workflow_text(SLOW, filename=str(tmp_path / "wf.yml"), environ={})
        result = asyncio.run(coordinator.resume_from_checkpoint(checkpoint, workflow))
    finally:
        store.close()
    assert (result.state, result.interrupted, result.exit_code) == ("completed", False, 0)
    assert set(store.results.load().results) == {"item-0", "item-1", "item-2"}
    assert (tmp_path / "reduce.log").read_text(encoding="utf-8") == "reduced\n"


def test_a_timeout_around_run_workflow_leaves_a_job_a_new_process_resumes(
    tmp_path: Path,
) -> None:
    (tmp_path / "wf.yml").write_text(SLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b", "c"]', encoding="utf-8")
    services = Services(interaction=NonInteractive(quiet=True),
                        options=RunOptions(kill_grace_secs=0.5))

    async def run() -> None:
        async with asyncio.timeout(1):
            await run_workflow(tmp_path / "wf.yml", job_id="job-1", state_dir=tmp_path / "state",
                               working_dir=tmp_path, services=services, environ={})

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(run())
    assert time.monotonic() - started < GENEROUS_SECS
    store = JobStore.open(tmp_path / "state", "job-1")
    assert_interrupted_in_map(store)
    assert store.lock().live_holder() is None  # the lock went with the run
    (tmp_path / "fast").touch()
    result = asyncio.run(resume_job("job-1", state_dir=tmp_path / "state", services=services,
                                    environ={}))
    assert (result.state, result.interrupted) == ("completed", False)
    assert (tmp_path / "reduce.log").read_text(encoding="utf-8") == "reduced\n"


def test_a_task_cancel_raises_cancelled_error_out_of_the_run(tmp_path: Path) -> None:
    store, coordinator = start_slow_job(tmp_path)
    workflow = load_workflow_text(SLOW, filename=str(tmp_path / "wf.yml"), environ={})

    async def cancel_soon() -> None:
        task = asyncio.create_task(coordinator.execute_workflow(workflow, working_dir=tmp_path))
        while not any(event.type == "map.started" for event in store.events.read()):
            await asyncio.sleep(0.05)
        task.cancel()
        await task

    try:
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(cancel_soon())
    finally:
        store.close()
    assert_interrupted_in_map(store)
    events = [event.type for event in store.events.read()]
    assert events[-1] == "job.interrupted"
