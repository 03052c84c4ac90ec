"""Running a step's body once — `shell`, `claude` or `write_file` — and capturing its output.

No handlers, no `when`, no masking here (see `runner`). After every body, the variables
get `shell.output` (stdout with trailing newlines removed), `shell.stderr`, `claude.output`
(after a claude step) and `last.exit_code` (0 for `write_file`; null when the step timed
out or could not start); `capture_output` then stores the output parsed by
`capture_format`, with the `capture_streams` sub-fields as `NAME.exit_code` keys.
`commit_required` compares HEAD of the step's directory before and after. Exit codes of
processes killed by a signal N are 128+N, as in the shell. With `context.on_output_line`,
a `shell` or `claude` program's lines go there, masked, while it runs (`output_lines`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.commands.capture import (
    CaptureFormatError,
    parse_capture,
    strip_trailing_newlines,
)
from mapreduce_fsm.commands.context import CLAUDE_COMMAND_VARIABLE, StepContext
from mapreduce_fsm.commands.git_head import NotAGitWorkTree, read_head
from mapreduce_fsm.commands.output_lines import StepOutput
from mapreduce_fsm.commands.process import ProcessOutcome, run_process
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.commands.shell_command import render_shell_command
from mapreduce_fsm.commands.write_file import WriteFileError, write_step_file
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.errors import InterpolationError
from mapreduce_fsm.expressions.interpolate import interpolate

_CLAUDE_MISSING = (
    "the Claude Code program {program!r} was not found: install Claude Code "
    "(npm install -g @anthropic-ai/claude-code) or set "
    f"{CLAUDE_COMMAND_VARIABLE} to the command that runs it"
)


@attrs.frozen(kw_only=True)
class BodyOutcome:
    """One run of a step's body: its (unmasked) result and the variables after it."""

    result: StepResult
    variables: Mapping[str, Any]


def step_where(step: Step) -> str:
    """How interpolation errors name a step."""
    return f'step "{step.label}"'


def format_secs(seconds: float) -> str:
    """"2.0s", "0.25s": to the hundredth, so a deadline's remainder does not show as 1.99996s."""
    if seconds >= 0.01:
        seconds = round(seconds, 2)
    return f"{seconds:.1f}s" if round(seconds, 1) == seconds else f"{seconds:g}s"


def _timeout_for(step: Step, context: StepContext) -> float | None:
    limits = [step.timeout] if step.timeout is not None else []
    if context.deadline is not None:
        limits.append(max(context.deadline - time.monotonic(), 0.0))
    return min(limits) if limits else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def step_dir(step: Step, variables: Mapping[str, Any], context: StepContext) -> Path:
    if step.working_dir is None:
        return context.cwd
    return context.cwd / interpolate(step.working_dir, variables, where=step_where(step))


async def _run_program(
    step: Step, variables: Mapping[str, Any], context: StepContext
) -> tuple[StepResult, str]:
    """Run a shell or claude step; the result and its raw (capped, note-free) stdout."""
    where = step_where(step)
    base_dir = step_dir(step, variables, context)
    step_env = {name: interpolate(text, variables, where=where) for name, text in step.env.items()}
    if step.shell is not None:
        command = render_shell_command(step.shell, variables, where=where)
        argv: tuple[str, ...] = ("sh", "-c", command.text)
        step_env.update(command.env)
    else:
        prompt = interpolate(with_env_values(step.claude or "", variables), variables,
                             where=where)
        argv = (*context.resolved_claude_command(), "--print", *context.claude_flags(), prompt)
    timeout = _timeout_for(step, context)
    if timeout is not None and timeout <= 0:
        return _timeout_result(step, ProcessOutcome(), context, 0.0), ""
    live = None if context.on_output_line is None else StepOutput(
        context.on_output_line, context.masker)
    try:
        outcome = await run_process(
            argv,
            cwd=base_dir,
            env=context.process_env(step_env),
            timeout=timeout,
            max_output_bytes=step.max_output_bytes,
            kill_grace_secs=context.kill_grace_secs,
            on_output=None if live is None else live.on_chunk,
        )
    finally:
        if live is not None:
            live.finish()
    if outcome.start_error is not None:
        start_error = outcome.start_error
        if step.claude is not None and outcome.missing_program:
            start_error = _CLAUDE_MISSING.format(program=argv[0])
        return StepResult(step=step.label, status="failed", error=start_error), ""
    if outcome.timed_out:
        return _timeout_result(step, outcome, context, timeout or 0.0), outcome.raw_stdout
    exit_code = _shell_exit_code(outcome.exit_code)
    error: str | None = None
    if exit_code != 0:
        detail = _last_line(outcome.stderr)
        error = f"exited with code {exit_code}" + (f": {detail}" if detail else "")
    result = StepResult(
        step=step.label,
        status="success" if exit_code == 0 else "failed",
        exit_code=exit_code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        duration_secs=outcome.duration_secs,
        error=error,
        output_truncated=outcome.truncated,
    )
    return result, outcome.raw_stdout


def _shell_exit_code(returncode: int | None) -> int | None:
    """A process killed by signal N reports -N; the shell's convention is 128+N."""
    if returncode is None or returncode >= 0:
        return returncode
    return 128 - returncode


def _timeout_result(
    step: Step, outcome: ProcessOutcome, context: StepContext, timeout: float
) -> StepResult:
    by_deadline = step.timeout is None or timeout < step.timeout
    reason = f" ({context.deadline_name})" if context.deadline is not None and by_deadline else ""
    if timeout <= 0:
        error = f"timed out: {context.deadline_name} ran out before the step started"
    else:
        error = f"timed out after {format_secs(timeout)}{reason}"
    return StepResult(
        step=step.label,
        status="timeout",
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        duration_secs=outcome.duration_secs,
        error=error,
        output_truncated=outcome.truncated,
    )


def _write(step: Step, variables: Mapping[str, Any], context: StepContext) -> StepResult:
    assert step.write_file is not None
    started = time.monotonic()
    try:
        write_step_file(
            step.write_file, variables, step_dir(step, variables, context), step_where(step)
        )
    except WriteFileError as error:
        return StepResult(step=step.label, status="failed", error=str(error))
    return StepResult(
        step=step.label, status="success", exit_code=0, duration_secs=time.monotonic() - started
    )


def _with_captures(
    step: Step, result: StepResult, raw_stdout: str, variables: Mapping[str, Any]
) -> BodyOutcome:
    output: Any = strip_trailing_newlines(raw_stdout)
    captures: dict[str, Any] = {}
    if result.status == "success" and step.capture_output is not False:
        try:
            output = parse_capture(raw_stdout, step.capture_format)
        except CaptureFormatError as error:
            truncated = " (the output was truncated)" if result.output_truncated else ""
            failed = attrs.evolve(result, status="failed", error=f"{error}{truncated}")
            return _with_captures(step, failed, raw_stdout, variables)
        if isinstance(step.capture_output, str):
            captures.update(_named_captures(step, step.capture_output, output, result))
    after: dict[str, Any] = {
        **variables,
        "shell": {"output": output, "stderr": strip_trailing_newlines(result.stderr)},
        "last": {"exit_code": result.exit_code},
    }
    if step.claude is not None:
        after["claude"] = {"output": output}
    if isinstance(step.capture_output, str) and step.capture_output in captures:
        set_variable(after, step.capture_output, captures[step.capture_output])
        after.update(captures)  # the sub-fields, as `NAME.exit_code` keys
    if captures:
        result = attrs.evolve(result, captures=captures)
    return BodyOutcome(result=result, variables=after)


def _named_captures(step: Step, name: str, output: Any, result: StepResult) -> dict[str, Any]:
    """`${NAME}` and, for `capture: NAME`, the `capture_streams` sub-fields `${NAME.exit_code}`."""
    streams = step.capture_streams
    if streams is None:
        return {name: output}
    fields: dict[str, Any] = {name: output if streams.stdout else ""}
    if streams.exit_code:
        fields[f"{name}.exit_code"] = result.exit_code
    if streams.success:
        fields[f"{name}.success"] = result.status == "success"
    if streams.duration:
        fields[f"{name}.duration"] = round(result.duration_secs, 3)
    if streams.stderr:
        fields[f"{name}.stderr"] = strip_trailing_newlines(result.stderr)
    return fields


def set_variable(variables: dict[str, Any], name: str, value: Any) -> None:
    """Set `name`; a dotted name (`shell.output`) also sets that field of its namespace.

    The dotted name itself is kept as a key too, so `${shell.output.exit_code}` (a
    sub-field of a dotted capture) resolves through interpolation's dotted-key lookup.
    """
    variables[name] = value
    root, dot, rest = name.partition(".")
    if dot and "." not in rest:
        namespace = variables.get(root)
        variables[root] = {**(namespace if isinstance(namespace, Mapping) else {}), rest: value}


_BARE_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|"
                            r"(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def with_env_values(prompt: str, variables: Mapping[str, Any]) -> str:
    """A claude prompt whose `$VAR` and `${VAR}` of the workflow's env and secrets read
    `${env.VAR}`, so that interpolation puts the values in (once: a value is never
    scanned again). Prodigy substitutes both forms in prompts; a `shell` step keeps
    `$VAR` for the shell.

    >>> with_env_values("fix $FILE in ${DIR} for $USER", {"env": {"FILE": "a", "DIR": "b"}})
    'fix ${env.FILE} in ${env.DIR} for $USER'
    """
    env = variables.get("env")
    if not isinstance(env, Mapping) or not env:
        return prompt

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        return f"${{env.{name}}}" if name in env else match.group()

    return _BARE_VARIABLE.sub(replace, prompt)


async def run_body(step: Step, variables: Mapping[str, Any], context: StepContext) -> BodyOutcome:
    """Run the step's command once; interpolation and capture errors become failed results.

    With `commit_required`, HEAD of the step's working directory is read before and after:
    a step that succeeded without a new commit fails, and so does one outside a git work tree.
    """
    head_before: str | None = None
    try:
        if step.commit_required:
            head_before = await read_head(step_dir(step, variables, context), context)
        if step.write_file is not None:
            result, raw_stdout = _write(step, variables, context), ""
        else:
            result, raw_stdout = await _run_program(step, variables, context)
        if step.commit_required and result.status == "success":
            head_after = await read_head(step_dir(step, variables, context), context)
            if head_after == head_before:
                result = attrs.evolve(result, status="failed", error=(
                    "commit_required, but HEAD did not move "
                    f"(still {head_before[:12] if head_before else 'no commit'})"))
    except InterpolationError as error:
        result, raw_stdout = StepResult(step=step.label, status="failed", error=str(error)), ""
    except NotAGitWorkTree as error:
        result, raw_stdout = StepResult(step=step.label, status="failed", error=(
            f"commit_required, but {error}")), ""
    return _with_captures(step, result, raw_stdout, variables)
