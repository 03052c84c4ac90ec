"""How the agent describes a failed step in an item result, a phase error and the DLQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mapreduce_fsm.agents.agent import Agent, describe_failure
from mapreduce_fsm.commands import StepContext, StepResult, run_step
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.workitems import WorkItem


def test_exit_code_and_timeout_are_described_with_the_step_label() -> None:
    assert describe_failure(StepResult(step="work", status="failed", exit_code=2)) == (
        "step 'work' exited with code 2")
    assert describe_failure(StepResult(step="work", status="timeout")) == "step 'work' timed out"


def test_an_interpolation_error_names_its_step_once(tmp_path: Path) -> None:
    step = Step(shell="echo ${item.nope}")
    result = asyncio.run(run_step(step, {"item": {"n": 1}}, StepContext(cwd=tmp_path)))
    assert describe_failure(result) == (
        "step 'echo ${item.nope}': ${item.nope} does not exist; item has: n")


def test_an_items_time_limit_is_named_as_such(tmp_path: Path) -> None:
    agent = Agent(template=(), variables={}, step_context=StepContext(cwd=tmp_path),
                  item_total=1, timeout=5)
    context = agent.item_context(WorkItem(id="a", index=0, value=1), "1")
    assert context.deadline is not None
    assert context.deadline_name == "the item's time limit"
