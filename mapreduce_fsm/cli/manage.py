"""The `stop` and `clean` commands: stop a job another process runs, remove ended jobs."""

from __future__ import annotations

import sys

import click

from mapreduce_fsm.cli.shared import (
    SECONDS,
    STATE_DIR_OPTION,
    open_job,
    resume_command,
    shown_state,
)


@click.command()
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--wait", "wait_secs", type=SECONDS, default=30.0, show_default=True,
              help="Seconds to wait for the job's process to end.")
def stop(job_id: str, state_dir: str | None, wait_secs: float) -> None:
    """Ask the process running JOB_ID to stop, as Ctrl-C would; the job stays resumable.

    Exits 0 once it stopped, 1 when it still runs after --wait seconds, 2 when the job is
    unknown or no live process runs it.
    """
    from mapreduce_fsm.errors import UsageError
    from mapreduce_fsm.jobs.manage import stop_job

    if wait_secs < 0:
        raise UsageError(f"--wait must be 0 seconds or more, got {wait_secs:g}")
    holder = stop_job(open_job(job_id, state_dir), wait_secs=wait_secs)
    click.echo(f"stopped job {job_id} (process {holder.pid}); "
               f"resume with: {resume_command(job_id, state_dir)}")


@click.command()
@click.argument("job_ids", nargs=-1)
@STATE_DIR_OPTION
@click.option("--older-than", "older_than", metavar="AGE",
              help="Only jobs unchanged for this long: 30m, 12h, 7d, 2w.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def clean(job_ids: tuple[str, ...], state_dir: str | None, older_than: str | None,
          dry_run: bool) -> None:
    """Remove the directories of ended jobs (completed, failed, paused), or of JOB_IDS.

    A job that a live process runs is never removed. Git worktrees inside a job's
    directory are removed from their repository too. Exits 1 when a named job was kept.
    """
    from mapreduce_fsm.jobs.manage import choose_jobs_to_clean, parse_age, remove_job
    from mapreduce_fsm.state import check_job_id, resolve_state_dir

    age = parse_age(older_than) if older_than is not None else None
    root = resolve_state_dir(state_dir)
    choices = choose_jobs_to_clean(root, [check_job_id(job) for job in job_ids],
                                   older_than_secs=age)
    removed, kept = 0, 0
    for choice in choices:
        if choice.kept_because is not None:
            click.echo(f"kept {choice.job_id}: {choice.kept_because}", err=True)
            kept += 1
            continue
        count = len(choice.worktrees)
        worktrees = f", {count} git worktree{'s' if count != 1 else ''}" if count else ""
        if not dry_run:
            remove_job(choice)
        verb = "would remove" if dry_run else "removed"
        state = shown_state(choice.state, running=False)
        click.echo(f"{verb} {choice.job_id} ({state}{worktrees}): {choice.path}")
        removed += 1
    if not choices:
        click.echo("no jobs to remove")
    elif dry_run:
        click.echo(f"dry run: {removed} job{'s' if removed != 1 else ''} would be removed")
    if kept and job_ids:
        sys.exit(1)
