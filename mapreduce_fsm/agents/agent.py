"""Running one work order: the agent template with the item's variables, made into an outcome."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mapreduce_fsm.agents.order import ItemOutcome, WorkOrder
from mapreduce_fsm.commands import StepContext, StepsOutcome, run_steps
from mapreduce_fsm.commands.masking import masker_for
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.state.logs import StepOutput, capped
from mapreduce_fsm.state.records import ItemResult, ItemStatus


def describe_failure(step: StepResult) -> str:
    """One line saying how a step failed, for item results, phase errors and the DLQ."""
    if step.error:
        # An interpolation error names its step already (step_where); say it once.
        error = step.error.removeprefix(f'step "{step.step}": ')
        return f"step {step.step!r}: {error}"
    if step.status == "timeout":
        return f"step {step.step!r} timed out"
    return f"step {step.step!r} exited with code {step.exit_code}"


def order_context(order: WorkOrder, env: Mapping[str, str] | None = None) -> StepContext:
    """The setting the order's steps run in, with `env` (default `order.env()`); the item's
    time limit starts now."""
    spec = order.spec
    deadline = None if spec.timeout_secs is None else time.monotonic() + spec.timeout_secs
    return StepContext(
        cwd=Path(order.cwd or spec.cwd),
        env=order.env() if env is None else dict(env),
        masker=masker_for(spec.secrets),
        deadline=deadline,
        deadline_name="the item's time limit",
        kill_grace_secs=spec.kill_grace_secs,
    )


async def run_work_order(order: WorkOrder) -> ItemOutcome:
    """Run the order's steps here, as local subprocesses, and make the item's outcome."""
    started_at, started = utc_now(), time.monotonic()
    with order.item_environment() as env:
        outcome = await run_steps(order.spec.steps, order.variables(), order_context(order, env))
    return item_outcome(order, outcome, started_at=started_at,
                        duration_secs=time.monotonic() - started)


def item_outcome(
    order: WorkOrder, outcome: StepsOutcome, *, started_at: str, duration_secs: float
) -> ItemOutcome:
    """The item's result from what its steps did: status, output, error, captures."""
    status: ItemStatus = "success"
    error = failed_step = None
    exit_code: int | None = 0
    stderr_tail = ""
    if outcome.failed is not None:
        failed = outcome.failed
        status = "timeout" if failed.status == "timeout" else "failed"
        error, failed_step, exit_code = describe_failure(failed), failed.step, failed.exit_code
        stderr_tail = failed.stderr[-order.spec.stderr_tail_chars:]
    elif outcome.results:
        exit_code = outcome.results[-1].exit_code
    captures: dict[str, object] = {}
    for step_result in outcome.results:
        captures.update(step_result.captures)
    # The result is written to the journal (and the DLQ, and reduce's results file): no
    # secret in it, not even an item that holds one. The steps had the item as it is.
    masker = masker_for(order.spec.secrets)
    result = ItemResult(
        item_id=order.item_id,
        item_index=order.item_index,
        item=masker.mask_value(order.item),
        status=status,
        exit_code=exit_code,
        output=_combined_output(outcome.results, order.spec.output_cap_bytes),
        error=error,
        failed_step=failed_step,
        attempts=order.attempt,
        started_at=started_at,
        finished_at=utc_now(),
        duration_secs=round(duration_secs, 6),
        captures=masker.mask_value(captures) if captures else captures,
    )
    if outcome.failed is not None and not outcome.failed.fail_workflow and (
            status == "timeout" and order.spec.fail_on_timeout):
        return ItemOutcome(result=result, stderr_tail=stderr_tail, fail_workflow=True,
                           fail_reason="timeout_config has timeout_action: fail")
    fail_workflow = outcome.failed is not None and outcome.failed.fail_workflow
    return ItemOutcome(result=result, stderr_tail=stderr_tail, fail_workflow=fail_workflow,
                       step_outputs=step_outputs(outcome.results))


def step_outputs(results: Sequence[StepResult], first_index: int = 0) -> tuple[StepOutput, ...]:
    """What each step printed, capped, numbered from `first_index`, for the job's logs."""
    return tuple(
        StepOutput(index=index, step=result.step, status=result.status,
                   exit_code=result.exit_code, stdout=capped(result.stdout),
                   stderr=capped(result.stderr))
        for index, result in enumerate(results, start=first_index)
    )


def _combined_output(results: tuple[StepResult, ...], cap_bytes: int) -> str:
    text = "".join(r.stdout if r.stdout.endswith("\n") or not r.stdout else r.stdout + "\n"
                   for r in results)
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= cap_bytes:
        return text
    kept = encoded[:cap_bytes].decode("utf-8", errors="ignore")
    return kept + f"\n[... {len(encoded) - cap_bytes} bytes dropped]"
