"""One work item: run the agent template with the item's variables and make its ItemResult."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs

from mapreduce_fsm.commands import StepContext, StepsOutcome, run_steps
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.convert import compact_json, utc_now
from mapreduce_fsm.state.records import ItemResult, ItemStatus
from mapreduce_fsm.workitems import WorkItem

OUTPUT_CAP_BYTES = 64 * 1024  # of an item's combined stdout kept in its result
STDERR_TAIL_CHARS = 2000


@attrs.frozen(kw_only=True)
class AgentOutcome:
    """An item's result plus what the dead-letter queue wants to keep of a failure."""

    result: ItemResult
    stderr_tail: str = ""
    fail_workflow: bool = False  # the failed step's on_failure says: fail the whole job


def describe_failure(step: StepResult) -> str:
    """One line saying how a step failed, for item results, phase errors and the DLQ."""
    if step.error:
        # An interpolation error names its step already (step_where); say it once.
        error = step.error.removeprefix(f'step "{step.step}": ')
        return f"step {step.step!r}: {error}"
    if step.status == "timeout":
        return f"step {step.step!r} timed out"
    return f"step {step.step!r} exited with code {step.exit_code}"


def _combined_output(results: tuple[StepResult, ...]) -> str:
    text = "".join(r.stdout if r.stdout.endswith("\n") or not r.stdout else r.stdout + "\n"
                   for r in results)
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= OUTPUT_CAP_BYTES:
        return text
    kept = encoded[:OUTPUT_CAP_BYTES].decode("utf-8", errors="ignore")
    return kept + f"\n[... {len(encoded) - OUTPUT_CAP_BYTES} bytes dropped]"


@attrs.frozen(kw_only=True)
class Agent:
    """Runs the map's `agent_template` for one item at a time; holds nothing per item."""

    template: tuple[Step, ...]
    variables: Mapping[str, Any]  # everything but the item: env, secrets, workflow, job, captures
    step_context: StepContext  # cwd, process env, masker; the deadline is set per item
    item_total: int
    timeout: float | None = None  # agent_timeout_secs: all steps of one item together
    runner: Any = run_steps  # commands.run_steps, or a fake in tests

    def item_variables(self, item: WorkItem, item_json: str) -> dict[str, Any]:
        return {
            **self.variables,
            "item": item.value,
            "item_index": item.index,
            "item_total": self.item_total,
            "item_id": item.id,
            "item_json": item_json,
        }

    def item_context(self, item: WorkItem, item_json: str) -> StepContext:
        env = {
            **self.step_context.env,
            "ITEM_JSON": item_json,
            "ITEM_INDEX": str(item.index),
            "ITEM_ID": item.id,
        }
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        return attrs.evolve(self.step_context, env=env, deadline=deadline,
                            deadline_name="the item's time limit")

    async def run(self, item: WorkItem, attempt: int) -> AgentOutcome:
        started_at, started = utc_now(), time.monotonic()
        item_json = compact_json(item.value)
        outcome: StepsOutcome = await self.runner(
            self.template, self.item_variables(item, item_json), self.item_context(item, item_json)
        )
        status: ItemStatus = "success"
        error = failed_step = None
        exit_code: int | None = 0
        stderr_tail = ""
        if outcome.failed is not None:
            failed = outcome.failed
            status = "timeout" if failed.status == "timeout" else "failed"
            error, failed_step, exit_code = describe_failure(failed), failed.step, failed.exit_code
            stderr_tail = failed.stderr[-STDERR_TAIL_CHARS:]
        elif outcome.results:
            exit_code = outcome.results[-1].exit_code
        captures: dict[str, Any] = {}
        for step_result in outcome.results:
            captures.update(step_result.captures)
        if captures:  # the result is written to the journal: no secret in it
            captures = self.step_context.masker.mask_value(captures)
        result = ItemResult(
            item_id=item.id,
            item_index=item.index,
            item=item.value,
            status=status,
            exit_code=exit_code,
            output=_combined_output(outcome.results),
            error=error,
            failed_step=failed_step,
            attempts=attempt,
            started_at=started_at,
            finished_at=utc_now(),
            duration_secs=round(time.monotonic() - started, 6),
            captures=captures,
        )
        fail_workflow = outcome.failed is not None and outcome.failed.fail_workflow
        return AgentOutcome(result=result, stderr_tail=stderr_tail, fail_workflow=fail_workflow)
