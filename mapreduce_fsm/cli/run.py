"""The `run` and `resume` commands: build the services from flags, drive the job, report the end."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from mapreduce_fsm.cli.backend_flags import (
    BACKEND_OPTION,
    SCHEDULER_OPTION,
    job_working_dir,
    on_backend,
)
from mapreduce_fsm.config import load_workflow
from mapreduce_fsm.console.interaction import choose_interaction
from mapreduce_fsm.console.progress import choose_progress
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.jobs.run import Services, resolve_secrets, resume_job, run_workflow
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.phases.coordinator import WorkflowResult
from mapreduce_fsm.state import JobStore, check_job_id, new_job_id, resolve_state_dir
from mapreduce_fsm.state.records import Event

PHASE_EVENT_TYPES = frozenset(
    {"phase.started", "phase.completed", "phase.failed", "phase.skipped", "phase.paused"}
)


def make_services(*, yes: bool, quiet: bool, max_parallel: int | None, force: bool,
                  verbose: bool = False) -> Services:
    return Services(
        interaction=choose_interaction(assume_yes=yes, quiet=quiet),
        progress=choose_progress(quiet=quiet, stream=sys.stderr),
        options=RunOptions(max_parallel=max_parallel, assume_yes=yes, force=force),
        event_subscribers=(echo_phase_event,) if verbose else (),
    )


def resume_command(job_id: str, state_dir: str | None) -> str:
    """The command line that resumes the job, with --state-dir when the run had one."""
    command = f"mapreduce-fsm resume {shlex.quote(job_id)}"
    return command if state_dir is None else f"{command} --state-dir {shlex.quote(state_dir)}"


def drive(job: Callable[[], Awaitable[WorkflowResult]]) -> WorkflowResult:
    """Run the job; Ctrl-C or SIGTERM cancels it cleanly so it stays resumable."""

    async def main() -> WorkflowResult:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        return await job()

    return asyncio.run(main())


def describe_phase_event(event: Event) -> str:
    """One line of `-v` output for a phase event, e.g. "[map] completed in 1.2s"."""
    outcome = event.type.removeprefix("phase.")
    line = f"[{event.phase}] {outcome}"
    if event.data.get("duration_secs") is not None and outcome != "started":
        line += f" in {event.data['duration_secs']}s"
    detail = event.data.get("error") or event.data.get("reason")
    return f"{line}: {detail}" if detail else line


def echo_phase_event(event: Event) -> None:
    """`-v`: print a phase event on stderr as the engine writes it."""
    if event.type in PHASE_EVENT_TYPES:
        click.echo(describe_phase_event(event), err=True)


def report(result: WorkflowResult, *, as_json: bool, quiet: bool,
           state_dir: str | None = None) -> None:
    """Say how the job ended, and how to go on when it did not complete."""
    resume_hint = f"resume with: {resume_command(result.job_id, state_dir)}"
    if as_json:
        click.echo(json.dumps(summary_json(result), ensure_ascii=False))
    if result.nothing_to_do:
        click.echo(f"job {result.job_id} is already completed: nothing to do", err=True)
    elif result.interrupted:
        click.echo(f"job {result.job_id} interrupted in {result.state}; {resume_hint}", err=True)
    elif result.state == "completed":
        if not quiet:
            click.echo(f"job {result.job_id} completed", err=True)
    elif result.state == "paused":
        click.echo(f"job {result.job_id} paused; {resume_hint}", err=True)
    else:
        where = f" in {result.failed_phase}" if result.failed_phase else ""
        click.echo(f"job {result.job_id} failed{where}: {result.error}\n{resume_hint}", err=True)


def summary_json(result: WorkflowResult) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "state": result.state,
        "exit_code": result.exit_code,
        "error": result.error,
        "interrupted": result.interrupted,
        "nothing_to_do": result.nothing_to_do,
        "phases": {
            name: {
                "outcome": phase.outcome,
                "error": phase.error,
                "duration_secs": round(phase.metrics.duration_secs, 3),
                "data": dict(phase.data),
            }
            for name, phase in result.phase_results.items()
        },
    }


@click.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--job-id", help="Id of the new job (default: <name>-<yyyymmdd-hhmmss>-<4 hex>).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where jobs live.")
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@click.option("--max-parallel", type=click.IntRange(min=1), help="Override map.max_parallel.")
@click.option("--dry-run", is_flag=True, help="Check the workflow and show the plan; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show each phase as it starts and ends.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@BACKEND_OPTION
@SCHEDULER_OPTION
def run(workflow: str, job_id: str | None, state_dir: str | None, yes: bool,
        max_parallel: int | None, dry_run: bool, as_json: bool, verbose: bool,
        quiet: bool, backend: str | None, scheduler: str | None) -> None:
    """Run WORKFLOW as a new job."""
    if verbose and quiet:
        raise UsageError("-v/--verbose and -q/--quiet contradict each other; give one of them")
    loaded = load_workflow(workflow)
    resolve_secrets(loaded, os.environ)  # a missing secret stops even a dry run
    if dry_run:
        from mapreduce_fsm.cli.views import print_plan

        print_plan(loaded, max_parallel=max_parallel)
        return
    root = resolve_state_dir(state_dir)
    job_id = check_job_id(job_id) if job_id is not None else new_job_id(loaded.name)
    job_dir = JobStore(root, job_id).path
    if job_dir.exists():
        raise UsageError(
            f"job {job_id} already exists in {job_dir.parent}; resume it with "
            f"`{resume_command(job_id, state_dir)}` or choose another --job-id"
        )
    if not quiet:
        click.echo(f"job {job_id}: running {loaded.name} (files in {job_dir})", err=True)
    services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=False,
                             verbose=verbose)
    result = drive(on_backend(
        backend, scheduler, Path.cwd(), services,
        lambda chosen: run_workflow(workflow, job_id=job_id, state_dir=state_dir,
                                    services=chosen)))
    report(result, as_json=as_json, quiet=quiet, state_dir=state_dir)
    sys.exit(result.exit_code)


@click.command()
@click.argument("job_id")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where jobs live.")
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@click.option("--force", is_flag=True, help="Resume even if the workflow file or input changed.")
@click.option("--max-parallel", type=click.IntRange(min=1), help="Override map.max_parallel.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show each phase as it starts and ends.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@BACKEND_OPTION
@SCHEDULER_OPTION
def resume(job_id: str, state_dir: str | None, yes: bool, force: bool,
           max_parallel: int | None, as_json: bool, verbose: bool, quiet: bool,
           backend: str | None, scheduler: str | None) -> None:
    """Continue JOB_ID where it stopped."""
    if verbose and quiet:
        raise UsageError("-v/--verbose and -q/--quiet contradict each other; give one of them")
    services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=force,
                             verbose=verbose)
    result = drive(on_backend(
        backend, scheduler, job_working_dir(job_id, state_dir), services,
        lambda chosen: resume_job(job_id, state_dir=state_dir, services=chosen)))
    report(result, as_json=as_json, quiet=quiet, state_dir=state_dir)
    sys.exit(result.exit_code)
