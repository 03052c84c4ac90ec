"""Running a step with its modifiers (`when`, `on_failure`, `on_success`), and step sequences.

The rules, in the order a step goes through them:

1. `when`: every `${...}` becomes the JSON literal of its value, then the text is compiled
   in the filter language and evaluated over the variables. False skips the step
   (status "skipped", variables unchanged). An expression or interpolation error fails
   the step (its `on_failure` does not run: the workflow itself is wrong).
2. The body runs (`execute.run_body`): a failure is a non-zero exit, a timeout, a command
   that cannot start, a `${...}` to a missing field, or output that does not parse as
   the `capture_format`.
3. `on_failure` (failed or timed-out steps only):
   - `ignore` (`on_failure: true`): the step is recovered.
   - handlers: for attempt 1..`max_attempts`, the handlers run in order with
     `${error.message}` (one line, secrets masked), `${error.exit_code}` and
     `${error.step}` set; a failing handler fails that attempt. When every handler
     succeeds: without `retry_original` the step is recovered (status stays "failed",
     `recovered` is true); with `retry_original` the step's body runs again (its own
     `on_failure` is not re-entered) and, if that succeeds, **the retried run's result
     is the step's result** (status "success", `recovered` false); if it fails, its
     failure is the error of the next attempt. When attempts run out the step fails,
     its error naming the handler that failed, if one did.
   - `fail_workflow`: set on the result whenever the step's failure reached `on_failure`
     and it did not end in a successful retry, even if the handler succeeded.
   Handlers see the failed step's variables; nothing they set is kept. What they did
   is noted at the end of the step's stderr (`[on_failure ...]` lines).
4. `on_success` (after the step succeeded, first time or on a retry): a step run with the
   step's variables. If it fails, the step counts as failed with the error
   "on_success handler failed: ..." (and `on_failure` does not run for it).

Every result leaving this module has secrets masked in `stdout`, `stderr` and `error`;
captured values are kept raw so later steps can use them (the phases mask them when
they write them to the job directory).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from mapreduce_fsm.commands.context import StepContext
from mapreduce_fsm.commands.execute import BodyOutcome, run_body, step_where
from mapreduce_fsm.commands.masking import SecretMasker
from mapreduce_fsm.commands.output_lines import OutputLineCallback
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.commands.validation import validate_step
from mapreduce_fsm.config.model import OnFailure, Step
from mapreduce_fsm.errors import ExpressionError, InterpolationError
from mapreduce_fsm.expressions.filter import compile_expression
from mapreduce_fsm.expressions.interpolate import interpolate_json_literals

__all__ = ["StepContext", "StepsOutcome", "run_step", "run_steps"]

StepDoneCallback = Callable[[int, StepResult, Mapping[str, Any]], Awaitable[None]]
# Where the step at an index sends its output lines while it runs (StepContext.on_output_line).
StepOutputs = Callable[[int], OutputLineCallback]


@attrs.frozen(kw_only=True)
class StepsOutcome:
    """What a sequence of steps did."""

    results: tuple[StepResult, ...]  # one per step that ran (skipped ones included)
    variables: Mapping[str, Any]  # the variables after the last step
    failed: StepResult | None  # the step that stopped the sequence, if any

    @property
    def ok(self) -> bool:
        return self.failed is None


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _masked(result: StepResult, masker: SecretMasker) -> StepResult:
    if masker.masks_nothing and result.error is None:
        return result  # the common case, and nothing to change
    return attrs.evolve(
        result,
        stdout=masker.mask(result.stdout),
        stderr=masker.mask(result.stderr),
        error=None if result.error is None else _one_line(masker.mask(result.error)),
    )


def _with_notes(result: StepResult, notes: Sequence[str], context: StepContext) -> StepResult:
    if not notes:
        return result
    context.show_notes(notes)
    separator = "" if not result.stderr or result.stderr.endswith("\n") else "\n"
    return attrs.evolve(result, stderr=result.stderr + separator + "\n".join(notes) + "\n")


def _when_holds(step: Step, variables: Mapping[str, Any]) -> bool:
    assert step.when is not None
    text = interpolate_json_literals(step.when, variables, where=step_where(step))
    return compile_expression(text).matches(variables)


async def _run_handlers(
    handlers: Sequence[Step], variables: Mapping[str, Any], context: StepContext
) -> StepResult | None:
    """Run handlers in order; the first one that failed, or None when all succeeded."""
    for handler in handlers:
        outcome = await _run_full(handler, variables, context)
        if not outcome.result.ok:
            return outcome.result
        variables = outcome.variables
    return None


def _error_variables(step: Step, failed: StepResult, masker: SecretMasker) -> dict[str, Any]:
    return {
        "message": _one_line(masker.mask(failed.error or failed.status)),
        "exit_code": failed.exit_code,
        "step": step.label,
    }


def _failed_output(failed: StepResult) -> dict[str, str]:
    """`${shell.output}` in an on_failure handler: stdout and stderr, as Prodigy documents."""
    stdout, stderr = failed.stdout.rstrip("\r\n"), failed.stderr.rstrip("\r\n")
    return {"output": "\n".join(text for text in (stdout, stderr) if text), "stderr": stderr}


async def _recover(
    step: Step,
    policy: OnFailure,
    variables: Mapping[str, Any],
    failed: BodyOutcome,
    context: StepContext,
) -> BodyOutcome:
    if policy.ignore:
        result = attrs.evolve(failed.result, recovered=True, fail_workflow=policy.fail_workflow)
        result = _with_notes(result, ["[on_failure: failure ignored]"], context)
        return attrs.evolve(failed, result=result)
    notes: list[str] = []
    current = failed
    handler_failure: StepResult | None = None
    for attempt in range(1, policy.max_attempts + 1):
        label = f"[on_failure attempt {attempt}/{policy.max_attempts}"
        error = _error_variables(step, current.result, context.masker)
        handler_failure = await _run_handlers(
            policy.handlers, {**current.variables, "error": error,
                              "shell": _failed_output(current.result)}, context
        )
        if handler_failure is not None:
            notes.append(f"{label}: handler {handler_failure.step!r} {handler_failure.status}: "
                         f"{handler_failure.error}]")
            continue
        if not policy.retry_original:
            notes.append(f"{label}: handled]")
            result = attrs.evolve(
                current.result, recovered=True, fail_workflow=policy.fail_workflow
            )
            return attrs.evolve(current, result=_with_notes(result, notes, context))
        retry = await run_body(step, variables, context)
        notes.append(f"{label}: handled, step retried: {retry.result.status}]")
        if retry.result.status == "success":
            return attrs.evolve(retry, result=_with_notes(retry.result, notes, context))
        current = retry
    error_text = current.result.error or current.result.status
    if handler_failure is not None:
        error_text += (
            f"; on_failure handler {handler_failure.step!r} failed: {handler_failure.error}"
        )
    result = attrs.evolve(current.result, error=error_text, fail_workflow=policy.fail_workflow)
    return attrs.evolve(current, result=_with_notes(result, notes, context))


async def _after_success(step: Step, done: BodyOutcome, context: StepContext) -> BodyOutcome:
    assert step.on_success is not None
    follow = await _run_full(step.on_success, done.variables, context)
    if follow.result.ok:
        return done
    result = attrs.evolve(
        done.result,
        status="failed",
        error=f"on_success handler failed: {follow.result.error or follow.result.status}",
    )
    return attrs.evolve(done, result=result)


async def _run_full(
    step: Step, variables: Mapping[str, Any], context: StepContext
) -> BodyOutcome:
    """One step with all its modifiers; the result is unmasked."""
    started = time.monotonic()
    if step.when is not None:
        try:
            holds = _when_holds(step, variables)
        except (ExpressionError, InterpolationError) as error:
            failed = StepResult(step=step.label, status="failed", error=f"when: {error}")
            return BodyOutcome(result=failed, variables=variables)
        if not holds:
            return BodyOutcome(
                result=StepResult(step=step.label, status="skipped"), variables=variables
            )
    outcome = await run_body(step, variables, context)
    if (step.when is None and step.on_failure is None and step.on_success is None
            and step.validate is None):
        return outcome  # a plain step: its body's duration is the step's
    if outcome.result.status == "success" and step.validate is not None:
        outcome = await validate_step(step, outcome, context, _run_full)
    if outcome.result.status in ("failed", "timeout") and step.on_failure is not None:
        outcome = await _recover(step, step.on_failure, variables, outcome, context)
    if outcome.result.status == "success" and step.on_success is not None:
        outcome = await _after_success(step, outcome, context)
    result = attrs.evolve(outcome.result, duration_secs=time.monotonic() - started)
    return attrs.evolve(outcome, result=result)


async def run_step(step: Step, variables: Mapping[str, Any], context: StepContext) -> StepResult:
    """Run one step with its modifiers; never raises for a failing command or a bad `${...}`.

    >>> import asyncio
    >>> from pathlib import Path
    >>> asyncio.run(run_step(Step(shell="echo hi"), {}, StepContext(cwd=Path("."))))
    StepResult(step='echo hi', status='success', exit_code=0, stdout='hi\\n', ...)
    """
    outcome = await _run_full(step, variables, context)
    return _masked(outcome.result, context.masker)


async def run_steps(
    steps: Sequence[Step],
    variables: Mapping[str, Any],
    context: StepContext,
    *,
    start_index: int = 0,
    on_step_done: StepDoneCallback | None = None,
    output_of_step: StepOutputs | None = None,
) -> StepsOutcome:
    """Run `steps[start_index:]` in order, threading variables; stop at the first step not ok.

    `on_step_done(index, result, variables_after)` is awaited after each step (the failing
    one included), so a phase can checkpoint between steps and later resume with
    `start_index` and the saved variables. With `output_of_step`, the step at `index`
    (its handlers and validation included) gives the lines it prints, masked, to
    `output_of_step(index)` while it runs, and the engine's notes on it as stderr lines.
    """
    current: Mapping[str, Any] = dict(variables)
    results: list[StepResult] = []
    for index in range(start_index, len(steps)):
        step_context = context if output_of_step is None else attrs.evolve(
            context, on_output_line=output_of_step(index))
        outcome = await _run_full(steps[index], current, step_context)
        result = _masked(outcome.result, context.masker)
        current = outcome.variables
        results.append(result)
        if on_step_done is not None:
            await on_step_done(index, result, current)
        if not result.ok:
            return StepsOutcome(results=tuple(results), variables=current, failed=result)
    return StepsOutcome(results=tuple(results), variables=current, failed=None)
