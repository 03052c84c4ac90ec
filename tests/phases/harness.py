"""Test doubles for the phase engine: scripted phases, fake step runners, a job store in tmp.

A fake step runner stands in for `commands.run_steps`: map items reach it through a
`FakeBackend` (passed by `MapPhase.backend_factory`), setup, reduce and custom phases
through `fake_phase_steps`, which patches the name `run_phase_steps` calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from unittest import mock

import attrs

from mapreduce_fsm.agents import ItemOutcome, WorkOrder, item_outcome
from mapreduce_fsm.agents.agent import order_context
from mapreduce_fsm.commands import StepContext, StepsOutcome
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.commands.runner import StepOutputs
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import Step, Workflow
from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.convert import converter, utc_now
from mapreduce_fsm.phases import (
    PhaseContext,
    PhaseCoordinator,
    PhaseResult,
    WorkflowResult,
    build_phases,
)
from mapreduce_fsm.phases.coordinator import interrupted_result
from mapreduce_fsm.phases.map import MapPhase
from mapreduce_fsm.phases.types import PhaseExecutor
from mapreduce_fsm.state import Checkpoint, JobStore
from mapreduce_fsm.state.records import ItemResult

MINIMAL_WORKFLOW = """\
name: test
map:
  input: items.json
  agent_template:
    - shell: "true"
"""


def minimal_workflow() -> Workflow:
    return load_workflow_text(MINIMAL_WORKFLOW, filename="test.yml", environ={})


def new_store(tmp_path: Path, job_id: str = "job-1") -> JobStore:
    return JobStore.create(tmp_path / "state", job_id, MINIMAL_WORKFLOW)


@attrs.define
class ScriptedPhase:
    """A phase whose outcomes are given up front, one per execution; records its runs."""

    name: str
    outcomes: list[str] = attrs.field(factory=list)  # completed, skipped, failed, paused, finish
    runs: int = 0
    skip_reason: str | None = None
    block: asyncio.Event | None = None  # when set, execute waits on it (to crash mid-phase)

    def can_skip(self, context: PhaseContext) -> str | None:
        return self.skip_reason

    async def execute(self, context: PhaseContext) -> PhaseResult:
        self.runs += 1
        if self.block is not None:
            await self.block.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else "completed"
        if outcome == "finish":
            return PhaseResult.completed(self.name, finish_workflow=True)
        if outcome == "failed":
            return PhaseResult.failed(self.name, f"{self.name} broke")
        if outcome == "paused":
            return PhaseResult.paused(self.name, "asked to pause")
        if outcome == "skipped":
            return PhaseResult.skipped(self.name, "nothing to do")
        return PhaseResult.completed(self.name)


class StepsRunner(Protocol):
    """What `commands.run_steps` looks like to its callers; the fakes below are ones."""

    def __call__(
        self,
        steps: Sequence[Step],
        variables: Mapping[str, Any],
        context: StepContext,
        *,
        start_index: int = 0,
        on_step_done: Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
        | None = None,
        output_of_step: StepOutputs | None = None,
    ) -> Awaitable[StepsOutcome]: ...


@attrs.define
class FakeBackend:
    """A backend whose orders run on a fake step runner instead of processes. Each order
    goes through JSON first, as it would to another machine, so a map run here also shows
    that an order carries all the item needs; the outcome is made as LocalBackend's is."""

    capacity: int
    runner: StepsRunner
    orders: list[WorkOrder] = attrs.field(factory=list)
    name: str = "fake"

    async def run(self, order: WorkOrder) -> ItemOutcome:
        sent = json.dumps(converter.unstructure(order))
        order = converter.structure(json.loads(sent), WorkOrder)
        self.orders.append(order)
        started_at, started = utc_now(), time.monotonic()
        outcome = await self.runner(order.spec.steps, order.variables(), order_context(order))
        return item_outcome(order, outcome, started_at=started_at,
                            duration_secs=time.monotonic() - started)


def with_fake_backend(phases: Sequence[PhaseExecutor], runner: StepsRunner) -> list[PhaseExecutor]:
    """The phases, with the map's items run by a FakeBackend on `runner`."""

    def fake(capacity: int) -> FakeBackend:
        return FakeBackend(capacity=capacity, runner=runner)

    return [attrs.evolve(phase, backend_factory=fake) if isinstance(phase, MapPhase) else phase
            for phase in phases]


@contextmanager
def fake_phase_steps(runner: StepsRunner) -> Iterator[None]:
    """Setup, reduce and custom phases run their steps on `runner` meanwhile."""
    with mock.patch("mapreduce_fsm.phases.steps.run_steps", runner):
        yield


StepBehaviour = Callable[[Step, Mapping[str, Any]], StepResult]


def ok_step(step: Step, variables: Mapping[str, Any]) -> StepResult:
    return StepResult(step=step.label, status="success", exit_code=0, stdout="")


@attrs.define
class FakeRunner:
    """Stands in for `commands.run_steps`: each step's result comes from `behaviour`."""

    behaviour: StepBehaviour = ok_step
    calls: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)
    crash_after: int | None = None  # raise CancelledError once this many steps ran

    async def __call__(
        self,
        steps: Sequence[Step],
        variables: Mapping[str, Any],
        context: StepContext,
        *,
        start_index: int = 0,
        on_step_done: Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
        | None = None,
        output_of_step: StepOutputs | None = None,
    ) -> StepsOutcome:
        current = dict(variables)
        results = []
        for index in range(start_index, len(steps)):
            if self.crash_after is not None and len(self.calls) >= self.crash_after:
                raise asyncio.CancelledError
            step = steps[index]
            self.calls.append((step.label, dict(current)))
            result = self.behaviour(step, current)
            current = {**current, **result.captures, "shell": {"output": result.stdout},
                       "last": {"exit_code": result.exit_code}}
            results.append(result)
            if output_of_step is not None:  # as the real runner does while the step runs
                show = output_of_step(index)
                for stream in ("stdout", "stderr"):
                    for line in getattr(result, stream).splitlines():
                        show(stream, line)
            if on_step_done is not None:
                await on_step_done(index, result, current)
            if not result.ok:
                return StepsOutcome(results=tuple(results), variables=current, failed=result)
        return StepsOutcome(results=tuple(results), variables=current, failed=None)


def scripted_steps(
    stdout: Mapping[str, str] | None = None, failing: Collection[str] = ()
) -> StepBehaviour:
    """A step behaviour: each step prints `stdout[label]` and fails (exit 1) when its label is
    in `failing`; a named `capture_output` stores the output, as `commands.run_steps` does."""
    outputs = dict(stdout or {})

    def behaviour(step: Step, variables: Mapping[str, Any]) -> StepResult:
        text = outputs.get(step.label, "")
        if step.label in failing:
            return StepResult(step=step.label, status="failed", exit_code=1, stdout=text,
                              stderr=f"{step.label} broke\n")
        captures = {step.capture_output: text.rstrip("\n")} if isinstance(
            step.capture_output, str) else {}
        return StepResult(step=step.label, status="success", exit_code=0, stdout=text,
                          captures=captures)

    return behaviour


@attrs.define
class RecordingRunner(FakeRunner):
    """A FakeRunner that also keeps the StepContext of every sequence it was asked to run."""

    contexts: list[StepContext] = attrs.field(factory=list)

    async def __call__(
        self,
        steps: Sequence[Step],
        variables: Mapping[str, Any],
        context: StepContext,
        *,
        start_index: int = 0,
        on_step_done: Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
        | None = None,
        output_of_step: StepOutputs | None = None,
    ) -> StepsOutcome:
        self.contexts.append(context)
        return await super().__call__(steps, variables, context, start_index=start_index,
                                      on_step_done=on_step_done, output_of_step=output_of_step)


ItemBehaviour = Callable[[Any], StepResult | None]  # item value -> a failure, or None for success


@attrs.define
class ItemRunner:
    """An async stand-in for `run_steps` for map items: every item's steps take `work_secs`,
    the calls in flight are counted, and the job can be crashed (its task cancelled, as
    Ctrl-C does) when the `crash_at`-th item starts."""

    fails: ItemBehaviour = lambda item: None
    work_secs: float = 0.0
    crash_at: int | None = None
    job_task: asyncio.Task[Any] | None = None  # set by Job.run: the task running the job
    calls: list[dict[str, Any]] = attrs.field(factory=list)  # variables of each item run
    contexts: list[StepContext] = attrs.field(factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(
        self,
        steps: Sequence[Step],
        variables: Mapping[str, Any],
        context: StepContext,
        *,
        start_index: int = 0,
        on_step_done: Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
        | None = None,
        output_of_step: StepOutputs | None = None,
    ) -> StepsOutcome:
        if "item" not in variables:  # setup, reduce: steps succeed at once
            return await FakeRunner()(steps, variables, context, start_index=start_index,
                                      on_step_done=on_step_done, output_of_step=output_of_step)
        self.calls.append(dict(variables))
        if self.crash_at is not None and len(self.calls) >= self.crash_at:
            assert self.job_task is not None
            self.job_task.cancel()
            await asyncio.Event().wait()  # until the cancellation reaches this item
        self.contexts.append(context)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.work_secs)
        finally:
            self.in_flight -= 1
        failure = self.fails(variables["item"])
        label = steps[0].label
        if failure is not None:
            return StepsOutcome(results=(failure,), variables=variables, failed=failure)
        result = StepResult(step=label, status="success", exit_code=0,
                            stdout=f"done {variables['item_id']}\n",
                            captures={"seen": variables["item"]})
        return StepsOutcome(results=(result,), variables={**variables, "seen": variables["item"]},
                            failed=None)


@attrs.define
class Job:
    """One job of a workflow file in tmp_path, run and resumed through a real PhaseCoordinator
    (phases from `build_phases`) with a real JobStore; steps run on a fake step runner."""

    tmp_path: Path
    workflow_text: str
    job_id: str = "job-1"

    @property
    def state_dir(self) -> Path:
        return self.tmp_path / "state"

    def workflow(self) -> Workflow:
        return load_workflow_text(self.workflow_text, filename=str(self.tmp_path / "wf.yml"),
                                  environ={})

    def store(self) -> JobStore:
        return JobStore.open(self.state_dir, self.job_id)

    def checkpoint(self) -> Checkpoint:
        checkpoint = self.store().load_checkpoint()
        assert checkpoint is not None
        return checkpoint

    def results(self) -> list[ItemResult]:
        """Every line of results.jsonl, in the order written."""
        path = self.store().path / "results.jsonl"
        if not path.exists():
            return []
        return [converter.structure(json.loads(line), ItemResult)
                for line in path.read_text().splitlines() if line.strip()]

    def run(self, runner: StepsRunner, **kwargs: Any) -> WorkflowResult:
        store = JobStore.create(self.state_dir, self.job_id, self.workflow_text)
        workflow = self.workflow()
        return self._drive(store, runner, kwargs, lambda c: c.execute_workflow(
            workflow, working_dir=self.tmp_path, workflow_text=self.workflow_text))

    def resume(self, runner: StepsRunner, **kwargs: Any) -> WorkflowResult:
        store, workflow = self.store(), self.workflow()
        checkpoint = store.load_checkpoint()
        assert checkpoint is not None
        return self._drive(store, runner, kwargs,
                           lambda c: c.resume_from_checkpoint(checkpoint, workflow))

    def _drive(
        self,
        store: JobStore,
        runner: StepsRunner,
        kwargs: Mapping[str, Any],
        start: Callable[[PhaseCoordinator], Awaitable[WorkflowResult]],
    ) -> WorkflowResult:
        kwargs = {"interaction": ScriptedInteraction(), **kwargs}
        phases = with_fake_backend(build_phases(self.workflow()), runner)
        coordinator = PhaseCoordinator(phases=phases, store=store, **kwargs)

        async def main() -> WorkflowResult:
            task = asyncio.ensure_future(start(coordinator))
            if isinstance(runner, ItemRunner):
                runner.job_task = task
            try:
                return await task
            except asyncio.CancelledError:  # the crash: the run left, its checkpoint written
                return interrupted_result(store)

        try:
            with fake_phase_steps(runner):
                return asyncio.run(main())
        finally:
            store.close()
