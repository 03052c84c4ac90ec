"""Property: a job interrupted anywhere and resumed, perhaps several times, ends as an unbroken run.

Real phases, coordinator and job store; a deterministic fake step runner (map items reach it
through a fake backend), so no process starts. A crash is the driver task being cancelled
(what Ctrl-C does) at a chosen point: after the checkpoint records the k-th transition,
inside the n-th setup/reduce step, or once n item results are in the journal.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from mapreduce_fsm.commands import StepContext, StepsOutcome
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.commands.runner import StepOutputs
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import Step, Workflow
from mapreduce_fsm.console.interaction import NonInteractive
from mapreduce_fsm.phases import PhaseCoordinator, build_phases
from mapreduce_fsm.phases.coordinator import WorkflowResult
from mapreduce_fsm.state import Checkpoint, JobStore
from mapreduce_fsm.state.journal import ResultsJournal
from mapreduce_fsm.state.records import ItemResult
from tests.phases.harness import fake_phase_steps, with_fake_backend

END_STATES = ("completed", "failed", "paused")


@attrs.frozen
class Shape:
    """A workflow: how many setup/reduce steps, which items fail, the failure policy."""

    setup_steps: int
    items: int
    failing_items: frozenset[int]
    policy: str  # dlq, skip, retry
    max_parallel: int
    reduce_steps: int
    broken_step: str | None  # "setup" or "reduce": its last step fails

    def workflow_text(self) -> str:
        lines = ["name: crashy"]
        if self.setup_steps:
            lines.append("setup:\n  commands:")
            for index in range(self.setup_steps):
                command = "bad" if self.broken_step == "setup" and index == self.setup_steps - 1 \
                    else f"setup {index}"
                lines += [f'    - shell: "{command}"', f"      capture_output: s{index}"]
            lines.append("  capture_outputs:\n    first_out: 0")
        lines += [
            "map:",
            "  input: items.json",
            f"  max_parallel: {self.max_parallel}",
            "  agent_template:",
            '    - shell: "first ${item}"',
            '    - shell: "second ${item}"',
            "error_policy:",
            f"  on_item_failure: {self.policy}",
        ]
        if self.policy == "retry":
            lines += ["  retry_config:", "    max_attempts: 2",
                      '    backoff: { fixed: { delay: "0.005s" } }']
        if self.reduce_steps:
            lines.append("reduce:")
            for index in range(self.reduce_steps):
                command = "bad" if self.broken_step == "reduce" and index == self.reduce_steps - 1 \
                    else f"reduce {index} of ${{map.total}}"
                lines.append(f'  - shell: "{command}"')
        return "\n".join(lines) + "\n"


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    items = draw(st.integers(min_value=0, max_value=8))
    setup_steps = draw(st.integers(min_value=0, max_value=3))
    reduce_steps = draw(st.integers(min_value=0, max_value=3))
    broken: list[str | None] = [None, None, None]
    if setup_steps:
        broken.append("setup")
    if reduce_steps:
        broken.append("reduce")
    return Shape(
        setup_steps=setup_steps,
        items=items,
        failing_items=draw(st.frozensets(st.integers(0, max(items - 1, 0)), max_size=3))
        if items else frozenset(),
        policy=draw(st.sampled_from(["dlq", "skip", "retry"])),
        max_parallel=draw(st.integers(min_value=1, max_value=3)),
        reduce_steps=reduce_steps,
        broken_step=draw(st.sampled_from(broken)),
    )


@attrs.frozen
class CrashPoint:
    kind: str  # transition, step, results
    at: int
    # A kill (SIGKILL, power cut) writes nothing more: the job dir is put back as it was
    # at the crash point. Otherwise it is an interruption (Ctrl-C) that may clean up.
    kill: bool = False


crash_points = st.one_of(
    st.builds(CrashPoint, st.just("transition"), st.integers(min_value=1, max_value=6),
              st.booleans()),
    st.builds(CrashPoint, st.just("step"), st.integers(min_value=1, max_value=4), st.booleans()),
    st.builds(CrashPoint, st.just("results"), st.integers(min_value=1, max_value=5),
              st.booleans()),
)


@attrs.define
class Crash:
    """Cancels the driver task once its crash point is reached; fires at most once."""

    point: CrashPoint | None
    job_dir: Path
    history_before: int = 0  # transitions count from this drive's first
    task: asyncio.Task[WorkflowResult] | None = None
    steps: int = 0
    fired: bool = False

    @property
    def snapshot(self) -> Path:
        return self.job_dir.with_name("at-the-kill")

    def reached(self, kind: str, count: int) -> bool:
        if self.fired or self.point is None or self.point.kind != kind or count < self.point.at:
            return False
        assert self.task is not None
        self.fired = True
        if self.point.kill:
            shutil.copytree(self.job_dir, self.snapshot)
        self.task.cancel()
        return True

    def restore_after_kill(self) -> None:
        """Put the job dir back as the kill left it: what the run wrote after is lost."""
        if self.fired and self.point is not None and self.point.kill:
            shutil.rmtree(self.job_dir)
            self.snapshot.rename(self.job_dir)


@attrs.define
class CrashingJournal(ResultsJournal):
    crash: Crash = attrs.field(kw_only=True)
    appended: int = attrs.field(default=0, kw_only=True)

    def append(self, result: ItemResult) -> None:
        super().append(result)
        self.appended += 1
        self.crash.reached("results", self.appended)


@attrs.define
class CrashingStore(JobStore):
    crash: Crash = attrs.field(kw_only=True)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.results = CrashingJournal(self.path / "results.jsonl", crash=self.crash)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        super().save_checkpoint(checkpoint)
        self.crash.reached("transition", len(checkpoint.history) - self.crash.history_before)


@attrs.define
class DeterministicRunner:
    """Stands in for `commands.run_steps`; a step's result depends only on the step and item.

    A step named "bad" fails; an item step "second" fails for the items in `failing`.
    Setup/reduce steps count towards the crash point "step": the crash lands inside the
    step, before it is recorded as done.
    """

    failing: frozenset[int]
    crash: Crash

    async def __call__(
        self,
        steps: Sequence[Step],
        variables: Mapping[str, Any],
        context: StepContext,
        *,
        start_index: int = 0,
        on_step_done: Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
        | None = None,
        output_of_step: StepOutputs | None = None,  # its output is not looked at here
    ) -> StepsOutcome:
        current = dict(variables)
        results = []
        for index in range(start_index, len(steps)):
            step = steps[index]
            await asyncio.sleep(0)  # items really interleave; a cancel lands here
            item = current.get("item")
            if item is None:
                self.crash.steps += 1
                if self.crash.reached("step", self.crash.steps):
                    await asyncio.sleep(0)
            failed = step.label == "bad" or (item in self.failing and "second" in step.label)
            stdout = f"{step.label} -> {item}" if item is not None else f"{step.label} 7"
            captures = {step.capture_output: stdout} if isinstance(step.capture_output, str) \
                else {}
            result = StepResult(step=step.label, status="failed" if failed else "success",
                                exit_code=1 if failed else 0, stdout=stdout, captures=captures)
            current = {**current, **captures, "shell": {"output": stdout},
                       "last": {"exit_code": result.exit_code}}
            results.append(result)
            if on_step_done is not None:
                await on_step_done(index, result, current)
            if failed:
                return StepsOutcome(results=tuple(results), variables=current, failed=result)
        return StepsOutcome(results=tuple(results), variables=current, failed=None)


@attrs.frozen
class Ending:
    """What a job ended with, as the comparison sees it."""

    state: str
    variables: Mapping[str, Any]
    results: Counter[tuple[str, str, int, str]]  # (item_id, status, attempts, output)
    dead_letters: frozenset[str]


def drive_once(
    shape: Shape, workflow: Workflow, root: Path, point: CrashPoint | None
) -> tuple[WorkflowResult | None, bool]:
    """One run or resume of the job in `root` (None when the crash cancelled it outright),
    and whether the crash point was reached."""
    checkpoint = JobStore(root / "state", "job").load_checkpoint()
    crash = Crash(point, JobStore(root / "state", "job").path,
                  history_before=0 if checkpoint is None else len(checkpoint.history))
    store = CrashingStore(root / "state", "job", crash=crash)
    runner = DeterministicRunner(shape.failing_items, crash)
    coordinator = PhaseCoordinator(
        phases=with_fake_backend(build_phases(workflow), runner), store=store,
        interaction=NonInteractive(quiet=True),
    )

    async def go() -> WorkflowResult | None:
        if checkpoint is None:
            job = coordinator.execute_workflow(workflow, working_dir=root,
                                               workflow_text=shape.workflow_text())
        else:
            job = coordinator.resume_from_checkpoint(checkpoint, workflow)
        crash.task = asyncio.create_task(job)
        try:
            return await crash.task
        except asyncio.CancelledError:  # cancelled as the driver returned
            return None

    try:
        with fake_phase_steps(runner):
            return asyncio.run(go()), crash.fired
    finally:
        store.close()
        crash.restore_after_kill()


def run_job(shape: Shape, root: Path, crashes: Sequence[CrashPoint]) -> Ending:
    root.mkdir()
    (root / "items.json").write_text(json.dumps(list(range(shape.items))), encoding="utf-8")
    JobStore.create(root / "state", "job", shape.workflow_text())
    workflow = load_workflow_text(shape.workflow_text(), filename="crashy.yml", environ={})
    checkpoint: Checkpoint | None = None
    for drive in range(len(crashes) + 2):
        point = crashes[drive] if drive < len(crashes) else None
        result, fired = drive_once(shape, workflow, root, point)
        if point is not None:
            how = "kill" if point.kill else "interrupt"
            event(f"{point.kind} {how} {'fired' if fired else 'not reached'}")
        checkpoint = JobStore(root / "state", "job").load_checkpoint()
        assert checkpoint is not None
        if result is not None and not (fired and point is not None and point.kill):
            assert result.state == checkpoint.state
            assert result.interrupted == (checkpoint.state not in END_STATES)
        if checkpoint.state in END_STATES:
            break
        assert fired, "a drive that was not cancelled must end the job"
    assert checkpoint is not None and checkpoint.state in END_STATES
    store = JobStore(root / "state", "job")
    loaded = store.results.load()
    assert not loaded.warnings
    # Each item ended exactly once: an item whose result was written never ran again.
    assert loaded.lines == len(loaded.results)
    return Ending(
        state=checkpoint.state,
        variables=checkpoint.variables,
        results=Counter((r.item_id, r.status, r.attempts, r.output)
                        for r in loaded.results.values()),
        dead_letters=frozenset(entry.item_id for entry in store.dlq.load()),
    )


@settings(max_examples=100, deadline=None)
@given(shape=shapes(), crashes=st.lists(crash_points, min_size=1, max_size=3))
# Cancelled inside `transitions` after `start` was recorded, before the executor ran.
@example(shape=Shape(0, 0, frozenset(), "dlq", 1, 0, None),
         crashes=[CrashPoint("transition", 1)])
# Killed after a failed item's result was journalled: its DLQ entry must not be lost.
@example(shape=Shape(0, 1, frozenset({0}), "dlq", 1, 0, None),
         crashes=[CrashPoint("results", 1, kill=True)])
def test_a_crashed_and_resumed_job_ends_as_an_uninterrupted_one(
    tmp_path_factory: pytest.TempPathFactory, shape: Shape, crashes: list[CrashPoint]
) -> None:
    base = tmp_path_factory.mktemp("crash")
    expected = run_job(shape, base / "unbroken", [])
    actual = run_job(shape, base / "crashed", crashes)
    assert actual == expected
    if expected.state == "completed" or shape.broken_step == "reduce":
        assert sum(expected.results.values()) == shape.items
        assert sorted(item_id for item_id, *_ in expected.results) == sorted(
            f"item-{index}" for index in range(shape.items))
