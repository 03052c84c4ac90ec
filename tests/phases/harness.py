"""Test doubles for the phase engine: scripted phases, a fake step runner, a job store in tmp."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.commands import StepContext, StepsOutcome
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import Step, Workflow
from mapreduce_fsm.phases import PhaseContext, PhaseResult
from mapreduce_fsm.state import JobStore

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

    def validate(self, context: PhaseContext) -> list[str]:
        return []

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
            if on_step_done is not None:
                await on_step_done(index, result, current)
            if not result.ok:
                return StepsOutcome(results=tuple(results), variables=current, failed=result)
        return StepsOutcome(results=tuple(results), variables=current, failed=None)
