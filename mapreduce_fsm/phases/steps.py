"""Running a phase's steps in order, checkpointing after each one so a resume starts at the next."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mapreduce_fsm.agents import describe_failure
from mapreduce_fsm.agents.agent import step_outputs
from mapreduce_fsm.commands import StepsOutcome, run_steps
from mapreduce_fsm.commands.output_lines import OutputLineCallback
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.types import PhaseMetrics, PhaseResult
from mapreduce_fsm.state.logs import STEP_OUTPUT_CAP_BYTES, StepLogs, StepOutput, capped

# Extra data a phase wants saved with the progress after a step: (index, result) -> data.
StepHook = Callable[[int, StepResult], Mapping[str, Any]]


def made_variables(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the steps made (captures, `shell.output`, `last.exit_code`).

    Only these are saved in the checkpoint: what came in (env, secrets) is never written.
    """
    return {
        name: value
        for name, value in after.items()
        if name in ("shell", "last") or name not in before or before[name] != value
    }


async def run_phase_steps(
    context: PhaseContext,
    phase: str,
    steps: Sequence[Step],
    variables: Mapping[str, Any],
    *,
    timeout: float | None = None,
    extra_env: Mapping[str, str] | None = None,
    on_step: StepHook | None = None,
) -> StepsOutcome:
    """Run `steps` from the first one not yet done; save progress after every step."""
    progress = context.progress(phase)
    if progress.next_step > len(steps):
        raise JobStateError(
            f"checkpoint {context.store.checkpoint_path} is not a valid checkpoint: "
            f"$.phases['{phase}'].next_step: {progress.next_step} is past the phase's "
            f"{len(steps)} steps"
        )
    saved: Mapping[str, Any] = progress.data.get("variables", {})
    data: dict[str, Any] = dict(progress.data)

    logs = StepLogs.of(context.store.path, phase)

    def label(index: int) -> str:
        return f"[{phase} {index + 1}/{len(steps)}]"

    running = RunningStepLines()

    def output_of_step(index: int) -> OutputLineCallback:
        return running.start(index, live_output(context, label(index)))

    async def step_done(index: int, result: StepResult, after: Mapping[str, Any]) -> None:
        running.index = None
        logs.append(step_outputs([result], first_index=index))
        show_failed_stderr(context, label(index), result)
        data["variables"] = made_variables(after, variables)
        if on_step is not None:
            data.update(on_step(index, result))
        # A failed step is not done: a resume runs it again.
        next_step = index + 1 if result.ok else index
        context.update_progress(phase, next_step=next_step, data=dict(data))
        context.emit("step.finished", phase=phase, index=index, step=result.step,
                     status=result.status, exit_code=result.exit_code,
                     duration_secs=round(result.duration_secs, 3), error=result.error)

    try:
        return await run_steps(
            steps,
            {**variables, **saved},
            context.step_context(timeout=timeout, extra_env=extra_env,
                                 deadline_name=f"{phase}'s time limit"),
            start_index=progress.next_step,
            on_step_done=step_done,
            output_of_step=output_of_step,
        )
    except (asyncio.CancelledError, KeyboardInterrupt):
        index = running.index
        if index is not None:  # what it printed was shown: the logs keep it too
            logs.append((running.interrupted(index, steps[index].label),))
        raise
    finally:
        logs.close()


class RunningStepLines:
    """The lines the running step printed so far, for its log entry if it is interrupted
    (a step that ends is logged whole from its result); at most about the log's cap."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.chars = 0

    def start(self, index: int, show: OutputLineCallback) -> OutputLineCallback:
        self.index, self.chars = index, 0
        self.lines = {"stdout": [], "stderr": []}

        def keep_and_show(stream: str, line: str) -> None:
            if self.chars <= STEP_OUTPUT_CAP_BYTES:
                self.lines[stream].append(line)
                self.chars += len(line) + 1
            show(stream, line)

        return keep_and_show

    def interrupted(self, index: int, label: str) -> StepOutput:
        stdout, stderr = ("".join(line + "\n" for line in self.lines[name])
                          for name in ("stdout", "stderr"))
        return StepOutput(index=index, step=label, status="interrupted",
                          stdout=capped(stdout), stderr=capped(stderr))


def live_output(context: PhaseContext, label: str) -> OutputLineCallback:
    """Where a step's lines go while it runs: the console (stderr, through the interaction,
    so `-q` and the embedding API's silence hold), each line after `label`; its stdout,
    and its stderr with `show_step_stderr` (-v)."""
    show_stderr = context.options.show_step_stderr

    def show(stream: str, line: str) -> None:
        if stream == "stdout" or show_stderr:
            context.interaction.display_info(f"{label} {line}")

    return show


def show_failed_stderr(context: PhaseContext, label: str, result: StepResult) -> None:
    """When a step has ended: its stderr, if it failed and it was not shown live (no -v).
    Its stdout was shown while it ran."""
    if result.ok or context.options.show_step_stderr:
        return
    for line in result.stderr.splitlines():
        context.interaction.display_info(f"{label} {line}")


def steps_result(phase: str, outcome: StepsOutcome, started: float, **data: Any) -> PhaseResult:
    """The phase result for a step sequence: completed, or failed naming the step."""
    metrics = PhaseMetrics(duration_secs=time.monotonic() - started)
    if outcome.failed is not None:
        reason = describe_failure(outcome.failed)
        if outcome.failed.fail_workflow:
            reason += " (on_failure has fail_workflow: true)"
        return PhaseResult.failed(phase, reason, data=data, metrics=metrics)
    return PhaseResult.completed(phase, data=data, metrics=metrics)
