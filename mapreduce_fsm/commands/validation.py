"""A step's `validate:` (Prodigy's form): score the step's work, repair it until it is complete.

After the step succeeds its validation commands run; their JSON report
`{completion_percentage, status, missing, gaps, implemented}` is read from `result_file`
(relative to the step's directory) or else from the last command's stdout. Output that
is not such a report scores 100 when every command succeeded and 0 otherwise. Below
`threshold` the `on_incomplete` commands run (at most `max_attempts` times), each time
followed by a new validation. The step then fails when still incomplete, unless
`on_incomplete.fail_workflow` is false, which lets it go on with a note.
`${validation.*}` is set for the repair commands and for the steps after.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.commands.context import StepContext
from mapreduce_fsm.commands.execute import BodyOutcome, step_dir, step_where
from mapreduce_fsm.commands.git_head import NotAGitWorkTree, read_head
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step, Validation
from mapreduce_fsm.errors import InterpolationError
from mapreduce_fsm.expressions.interpolate import interpolate

RunStep = Callable[[Step, Mapping[str, Any], StepContext], Awaitable[BodyOutcome]]


@attrs.frozen(kw_only=True)
class Score:
    """One validation's report, as the `${validation.*}` variables show it."""

    completion: float
    status: str
    missing: tuple[str, ...] = ()
    implemented: tuple[str, ...] = ()
    gaps: Any = attrs.field(factory=dict)

    def variables(self, attempt: int) -> dict[str, Any]:
        return {
            "completion": self.completion,
            "completion_percentage": self.completion,
            "status": self.status,
            "missing": list(self.missing),
            "missing_count": len(self.missing),
            "implemented": list(self.implemented),
            "gaps": self.gaps,
            "attempt_number": attempt,
        }

    def describe(self, threshold: float) -> str:
        missing = f"; missing: {', '.join(self.missing)}" if self.missing else ""
        return f"{self.completion:g}% complete, below the threshold of {threshold:g}%{missing}"


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(item if isinstance(item, str) else json.dumps(item) for item in value)
    return () if value is None else (str(value),)


def read_report(text: str, commands_ok: bool, threshold: float) -> Score:
    """The score a validation's JSON report gives; no report: 100 if the commands passed.

    >>> read_report('{"completion_percentage": 80, "missing": ["tests"]}', True, 100).missing
    ('tests',)
    >>> read_report("all good", True, 100).completion
    100.0
    """
    try:
        report = json.loads(text)
    except ValueError:
        report = None
    if not isinstance(report, dict) or not isinstance(
            report.get("completion_percentage"), int | float):
        completion = 100.0 if commands_ok else 0.0
        return Score(completion=completion, status="complete" if commands_ok else "failed")
    completion = float(report["completion_percentage"])
    status = report.get("status")
    return Score(
        completion=completion,
        status=str(status) if status is not None else (
            "complete" if completion >= threshold else "incomplete"),
        missing=_strings(report.get("missing")),
        implemented=_strings(report.get("implemented")),
        gaps=report.get("gaps", {}),
    )


async def _score(
    spec: Validation, step: Step, variables: Mapping[str, Any], context: StepContext,
    run: RunStep,
) -> Score:
    last: StepResult | None = None
    commands_ok = True
    for command in spec.commands:
        if spec.timeout is not None and command.timeout is None:
            command = attrs.evolve(command, timeout=spec.timeout)
        outcome = await run(command, variables, context)
        last, variables = outcome.result, outcome.variables
        if not outcome.result.ok:
            commands_ok = False
            break
    text = last.stdout if last is not None else ""
    if spec.result_file is not None:
        try:
            name = interpolate(spec.result_file, variables, where=step_where(step))
            text = (step_dir(step, variables, context) / Path(name)).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, InterpolationError):
            text = ""  # no report: scored by the commands alone
            commands_ok = commands_ok and bool(spec.commands)
    return read_report(text, commands_ok, spec.threshold)


async def _repair(
    step: Step, variables: Mapping[str, Any], context: StepContext, run: RunStep,
) -> str | None:
    """Run `on_incomplete`'s commands; why they failed, or None."""
    spec = step.validate
    assert spec is not None and spec.on_incomplete is not None
    policy = spec.on_incomplete
    try:
        head = await read_head(step_dir(step, variables, context), context) \
            if policy.commit_required else None
        for command in policy.commands:
            outcome = await run(command, variables, context)
            if not outcome.result.ok:
                return f"on_incomplete {command.label!r} failed: {outcome.result.error}"
            variables = outcome.variables
        if policy.commit_required and head == await read_head(
                step_dir(step, variables, context), context):
            return "on_incomplete: commit_required, but HEAD did not move"
    except NotAGitWorkTree as error:
        return f"on_incomplete: commit_required, but {error}"
    return None


async def validate_step(
    step: Step, done: BodyOutcome, context: StepContext, run: RunStep,
) -> BodyOutcome:
    """Validate a step that succeeded; the outcome says whether it stays a success."""
    spec = step.validate
    assert spec is not None
    policy = spec.on_incomplete
    repairs = policy.max_attempts if policy is not None else 0
    notes: list[str] = []
    attempt = 1
    while True:
        score = await _score(spec, step, done.variables, context, run)
        variables = {**done.variables, "validation": score.variables(attempt)}
        if score.completion >= spec.threshold:
            notes.append(f"[validate attempt {attempt}: {score.completion:g}% complete]")
            return _noted(done, variables, context, notes, error=None)
        notes.append(f"[validate attempt {attempt}: {score.describe(spec.threshold)}]")
        if attempt > repairs or policy is None or not policy.commands:
            break
        problem = await _repair(step, variables, context, run)
        if problem is not None:
            return _noted(done, variables, context, notes, error=f"validation: {problem}")
        attempt += 1
    if policy is not None and not policy.fail_workflow:
        notes.append("[validate: going on (fail_workflow: false)]")
        return _noted(done, variables, context, notes, error=None)
    prompt = f" ({policy.prompt})" if policy is not None and policy.prompt else ""
    return _noted(done, variables, context, notes,
                  error=f"validation incomplete after {attempt} attempt"
                        f"{'s' if attempt != 1 else ''}: {score.describe(spec.threshold)}{prompt}")


def _noted(
    done: BodyOutcome, variables: dict[str, Any], context: StepContext, notes: list[str], *,
    error: str | None,
) -> BodyOutcome:
    context.show_notes(notes)
    result = done.result
    separator = "" if not result.stderr or result.stderr.endswith("\n") else "\n"
    changes: dict[str, Any] = {"stderr": result.stderr + separator + "\n".join(notes) + "\n"}
    if error is not None:
        changes.update(status="failed", error=error)
    return BodyOutcome(result=attrs.evolve(result, **changes), variables=variables)
