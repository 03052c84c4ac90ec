"""How the agent describes a failed step (item result, phase error, DLQ), and its item deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import attrs

from mapreduce_fsm.agents import AgentSpec
from mapreduce_fsm.agents.agent import describe_failure, order_context
from mapreduce_fsm.commands import StepContext, StepResult, run_step
from mapreduce_fsm.config.model import Step


def test_exit_code_and_timeout_are_described_with_the_step_label() -> None:
    assert describe_failure(StepResult(step="work", status="failed", exit_code=2)) == (
        "step 'work' exited with code 2")
    assert describe_failure(StepResult(step="work", status="timeout")) == "step 'work' timed out"


def test_an_interpolation_error_names_its_step_once(tmp_path: Path) -> None:
    step = Step(shell="echo ${item.nope}")
    result = asyncio.run(run_step(step, {"item": {"n": 1}}, StepContext(cwd=tmp_path)))
    assert describe_failure(result) == (
        "step 'echo ${item.nope}': ${item.nope} does not exist; item has: n")


def test_an_items_time_limit_starts_where_the_order_runs_and_is_named_as_such() -> None:
    spec = AgentSpec(steps=(), variables={}, item_total=1, cwd=".", env={}, timeout_secs=5)
    order = spec.order(item=1, item_id="a", item_index=0, attempt=1)
    before = time.monotonic()
    context = order_context(order)
    assert context.deadline is not None and context.deadline >= before + 5
    assert context.deadline_name == "the item's time limit"
    assert order_context(attrs.evolve(order, spec=attrs.evolve(spec, timeout_secs=None))
                         ).deadline is None
