"""How the agent describes a failed step in an item result, a phase error and the DLQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mapreduce_fsm.agents.agent import describe_failure
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
