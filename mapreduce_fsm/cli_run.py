"""The `run` and `resume` commands: build the services from flags, drive the job, report the end."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable

import click

from mapreduce_fsm.api import Services, resume_job, run_workflow
from mapreduce_fsm.errors import EXIT_INTERRUPTED
from mapreduce_fsm.interaction import choose_interaction
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.phases.coordinator import WorkflowResult
from mapreduce_fsm.progress import choose_progress


def make_services(*, yes: bool, quiet: bool, max_parallel: int | None, force: bool) -> Services:
    return Services(
        interaction=choose_interaction(assume_yes=yes, quiet=quiet),
        progress=choose_progress(quiet=quiet, stream=sys.stderr),
        options=RunOptions(max_parallel=max_parallel, assume_yes=yes, force=force),
    )


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


def report(result: WorkflowResult, *, as_json: bool, quiet: bool) -> None:
    """Say how the job ended, and how to go on when it did not complete."""
    resume_hint = f"resume with: mapreduce-fsm resume {result.job_id}"
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
        click.echo(f"job {result.job_id} failed: {result.error}\n{resume_hint}", err=True)


def summary_json(result: WorkflowResult) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "state": result.state,
        "exit_code": result.exit_code,
        "error": result.error,
        "interrupted": result.interrupted,
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
def run(workflow: str, job_id: str | None, state_dir: str | None, yes: bool,
        max_parallel: int | None, dry_run: bool, as_json: bool, verbose: bool,
        quiet: bool) -> None:
    """Run WORKFLOW as a new job."""
    if dry_run:
        from mapreduce_fsm.cli_views import print_plan

        print_plan(workflow)
        return
    services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=False)
    result = drive(lambda: run_workflow(workflow, job_id=job_id, state_dir=state_dir,
                                        services=services))
    report(result, as_json=as_json, quiet=quiet)
    sys.exit(EXIT_INTERRUPTED if result.interrupted else result.exit_code)


@click.command()
@click.argument("job_id")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where jobs live.")
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@click.option("--force", is_flag=True, help="Resume even if the workflow file or input changed.")
@click.option("--max-parallel", type=click.IntRange(min=1), help="Override map.max_parallel.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def resume(job_id: str, state_dir: str | None, yes: bool, force: bool,
           max_parallel: int | None, as_json: bool, quiet: bool) -> None:
    """Continue JOB_ID where it stopped."""
    services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=force)
    result = drive(lambda: resume_job(job_id, state_dir=state_dir, services=services))
    report(result, as_json=as_json, quiet=quiet)
    sys.exit(result.exit_code)
