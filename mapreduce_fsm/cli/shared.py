"""What several commands share: the --state-dir option, the resume hint, -o files, driving a job.

Like every module of the command line, it imports only click at first: `--help` must be
quick, so what a command needs is imported when the command runs.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from mapreduce_fsm.phases.types import WorkflowResult
    from mapreduce_fsm.state import JobStore

Outcome = TypeVar("Outcome")

NO_CHECKPOINT_STATES = ("unknown", "not started")  # what `jobs` and `status` show then

STATE_DIR_OPTION = click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Where jobs live."
)


if TYPE_CHECKING:  # generic from click 8.2 on; the project accepts click 8.1
    _ParamType = click.ParamType[int | float, object]
else:
    _ParamType = click.ParamType


class _NumberOption(_ParamType):
    """An int or float option whose bad value is said in the project's words
    (`--step must be a whole number, got 'two'`), not click's "is not a valid integer"."""

    def __init__(self, kind: type[int] | type[float], expected: str) -> None:
        self.kind, self.expected = kind, expected
        self.name = "N" if kind is int else "SECS"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> int | float:
        if isinstance(value, self.kind):
            return value
        try:
            return self.kind(str(value))
        except ValueError:
            from mapreduce_fsm.errors import UsageError

            flag = param.opts[0] if param is not None and param.opts else "the value"
            raise UsageError(f"{flag} must be {self.expected}, got {value!r}") from None


WHOLE_NUMBER = _NumberOption(int, "a whole number")
SECONDS = _NumberOption(float, "a number of seconds")


def job_command(words: str, job_id: str, state_dir: str | None, *more: str) -> str:
    """`mapreduce-fsm WORDS JOB_ID [MORE...]`, with --state-dir when the user gave one."""
    command = " ".join(["mapreduce-fsm", words, *map(shlex.quote, (job_id, *more))])
    return command if state_dir is None else f"{command} --state-dir {shlex.quote(state_dir)}"


def shown_state(state: str, running: bool) -> str:
    """A job's state for people: a job left mid-way that no process runs is "stopped in X"."""
    from mapreduce_fsm.phases.machine import ENDED_STATES

    if running or state in ENDED_STATES or state in NO_CHECKPOINT_STATES:
        return state
    return f"stopped in {state}"


def resume_command(job_id: str, state_dir: str | None) -> str:
    """The command line that resumes the job, with --state-dir when the run had one."""
    return job_command("resume", job_id, state_dir)


SKIPPED_IDS_SHOWN = 3


def items_failed_line(result: WorkflowResult, state_dir: str | None) -> str:
    """The last line of a job that completed with failed items: how many, and where to look.

    Dead-lettered items are in `dlq list`; skipped ones are not, so the line names the
    first few and the `logs` command of the first.
    """
    parts = []
    if result.items_failed:
        parts.append(f"{result.items_failed} dead-lettered")
    skipped_ids = _first_skipped_ids(result) if result.items_skipped else []
    if result.items_skipped:
        more = ", ..." if result.items_skipped > len(skipped_ids) else ""
        named = f": {', '.join(skipped_ids)}{more}" if skipped_ids else ""
        parts.append(f"{result.items_skipped} skipped{named}")
    line = (f"job {result.job_id} completed, but {result.items_failed + result.items_skipped} "
            f"of {result.items_total} items failed ({', '.join(parts)})")
    if result.items_failed:
        line += f"; see them with: {job_command('dlq list', result.job_id, state_dir)}"
    elif skipped_ids:
        line += f"; see why with: {job_command('logs', result.job_id, state_dir, skipped_ids[0])}"
    return line


def _first_skipped_ids(result: WorkflowResult) -> list[str]:
    ids: list[str] = []
    for item in result.item_results():
        if item.status == "skipped":
            ids.append(item.item_id)
            if len(ids) == SKIPPED_IDS_SHOWN:
                break
    return ids


def open_job(job_id: str, state_dir: str | None) -> JobStore:
    """The existing job `job_id` in the state dir the user chose."""
    from mapreduce_fsm.state import JobStore, check_job_id, resolve_state_dir

    return JobStore.open(resolve_state_dir(state_dir), check_job_id(job_id))


def write_output_file(output: str, text: str) -> None:
    """`-o FILE`: write `text` there; a path that cannot be written is a usage error."""
    from mapreduce_fsm.errors import UsageError

    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None


def drive(job: Callable[[], Awaitable[Outcome]],
          interrupted: Callable[[], Outcome]) -> Outcome:
    """Run the job; Ctrl-C or SIGTERM cancels it cleanly so it stays resumable.

    The cancel propagates out of the run after the checkpoint is written; `interrupted`
    then says how the command ended (read from that checkpoint). The signal handlers of
    before are put back after (asyncio leaves SIGTERM at its default, which kills).
    """
    import asyncio
    import signal

    async def main() -> Outcome:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await job()
        except asyncio.CancelledError:
            task.uncancel()
            return interrupted()

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return asyncio.run(main())
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


def interrupted_run(job_id: str, state_dir: str | None) -> WorkflowResult:
    """How an interrupted run or resume of `job_id` ended, from its checkpoint."""
    from mapreduce_fsm.phases.types import interrupted_result

    return interrupted_result(open_job(job_id, state_dir))
