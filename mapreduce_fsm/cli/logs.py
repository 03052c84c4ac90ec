"""The `logs` command: what a job's steps printed, for one item or for setup and reduce."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from mapreduce_fsm.cli.shared import STATE_DIR_OPTION, WHOLE_NUMBER, job_command, open_job

if TYPE_CHECKING:
    from mapreduce_fsm.state import JobStore
    from mapreduce_fsm.state.logs import StepLogLine, StepLogs

PHASE_NAMES = ("setup", "reduce")
FOLLOW_POLL_SECS = 0.5


def describe_line(line: StepLogLine, phase: str) -> str:
    """The heading of one step's output, e.g. `[item-3 attempt 2] step 1 "grep x": failed
    (exit 1)`."""
    output = line.output
    who = f"{line.item_id} attempt {line.attempt}" if line.item_id is not None else phase
    ending = output.status if output.exit_code is None else \
        f"{output.status} (exit {output.exit_code})"
    return f"[{who}] step {output.index + 1} {output.step!r}: {ending}"


def print_lines(lines: list[StepLogLine], phase: str, step: int | None) -> int:
    """Print each step's heading, stdout and stderr (all on stdout); how many were printed."""
    printed = 0
    for line in lines:
        if step is not None and line.output.index + 1 != step:
            continue
        printed += 1
        click.echo(describe_line(line, phase))
        if line.output.stdout:
            click.echo(line.output.stdout, nl=not line.output.stdout.endswith("\n"))
        if line.output.stderr:
            click.echo("[stderr]")
            click.echo(line.output.stderr, nl=not line.output.stderr.endswith("\n"))
    return printed


@click.command()
@click.argument("job_id")
@click.argument("item", required=False)
@STATE_DIR_OPTION
@click.option("--step", type=WHOLE_NUMBER, help="Only step N (1 is the first step).")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing new output until the process running the job ends.")
def logs(job_id: str, item: str | None, state_dir: str | None, step: int | None,
         follow: bool) -> None:
    """Print what the steps of JOB_ID printed: for ITEM (an item id), for `setup` or
    `reduce`, or without ITEM for setup and reduce. Output of every step is kept in the
    job directory (logs/<phase>.jsonl), stdout and stderr each capped at 64 KiB."""
    from mapreduce_fsm.errors import UsageError
    from mapreduce_fsm.state.logs import StepLogs

    if step is not None and step < 1:
        raise UsageError(f"--step must be 1 or more, got {step}")
    store = open_job(job_id, state_dir)
    sources: list[tuple[str, StepLogs, str | None]]
    if item in PHASE_NAMES:
        sources = [(str(item), StepLogs.of(store.path, str(item)), None)]
    elif item is None:
        sources = [(name, StepLogs.of(store.path, name), None) for name in PHASE_NAMES]
    else:
        sources = [("map", StepLogs.of(store.path, "map"), item)]
    offsets = [0] * len(sources)
    printed = _print_new(sources, offsets, step)
    if follow:
        lock = store.lock()
        try:
            while lock.live_holder() is not None:
                time.sleep(FOLLOW_POLL_SECS)
                printed += _print_new(sources, offsets, step)
            printed += _print_new(sources, offsets, step)  # what was written last
        except KeyboardInterrupt:
            return
    if printed == 0:  # with --follow too: the job is over and the item never printed
        if item not in (None, *PHASE_NAMES) and step is None and _started(store, str(item)):
            raise UsageError(
                f"item {item!r} of job {job_id} started, but none of its steps has ended: a "
                "step that still runs, or that a stop or crash cut short, has no output kept "
                "(`--follow` waits for it)")
        raise UsageError(_nothing_message(job_id, item, step, state_dir))


def _started(store: JobStore, item_id: str) -> bool:
    """Whether the job's event log has the item starting (read only when it has no output)."""
    return any(event.data.get("item_id") == item_id
               for event in store.events.read(types={"item.started"}))


def _print_new(sources: list[tuple[str, StepLogs, str | None]], offsets: list[int],
               step: int | None) -> int:
    printed = 0
    for number, (phase, log, item_id) in enumerate(sources):
        lines, offsets[number] = log.read(item_id=item_id, offset=offsets[number])
        printed += print_lines(lines, phase, step)
    return printed


def _nothing_message(job_id: str, item: str | None, step: int | None,
                     state_dir: str | None) -> str:
    if item is None:
        at = f" at step {step}" if step is not None else ""
        return (f"job {job_id} has no output from setup or reduce{at}; give an item id "
                f"for a map item's output: {job_command('logs', job_id, state_dir, 'ITEM')}")
    which = f" step {step} of" if step is not None else ""
    what = f"{item}" if item in PHASE_NAMES else f"item {item!r}"
    return (f"no output kept for{which} {what} in job {job_id} (it has not run, has no such "
            f"step, or is not an item of the job: `{job_command('status', job_id, state_dir)}` "
            "counts them)")
