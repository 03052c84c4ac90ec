"""The `run` and `resume` commands: build the services from flags, drive the job, report the end."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from mapreduce_fsm.cli.backend_flags import (
    BACKEND_OPTION,
    SCHEDULER_OPTION,
    job_working_dir,
    on_backend,
)
from mapreduce_fsm.cli.shared import (
    STATE_DIR_OPTION,
    WHOLE_NUMBER,
    drive,
    interrupted_run,
    items_failed_line,
    open_job,
    resume_command,
)

if TYPE_CHECKING:
    from mapreduce_fsm import Event, Services, Workflow, WorkflowResult
    from mapreduce_fsm.config.model import Step
    from mapreduce_fsm.git import IsolationPlan
    from mapreduce_fsm.jobs.run import NewJob

PHASE_EVENT_TYPES = frozenset(
    {"phase.started", "phase.completed", "phase.failed", "phase.skipped", "phase.paused"}
)
PLAN_COMMAND_WIDTH = 60


def make_services(*, yes: bool, quiet: bool, max_parallel: int | None, force: bool,
                  verbose: bool = False, isolation: str | None = None) -> Services:
    from mapreduce_fsm import RunOptions, Services
    from mapreduce_fsm.console.interaction import choose_interaction
    from mapreduce_fsm.console.progress import choose_progress

    return Services(
        interaction=choose_interaction(assume_yes=yes, quiet=quiet),
        progress=choose_progress(quiet=quiet, stream=sys.stderr),
        options=RunOptions(max_parallel=max_parallel, assume_yes=yes, force=force,
                           isolation=isolation, show_step_stderr=verbose),
        event_subscribers=(echo_phase_event,) if verbose else (),
    )


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
    from mapreduce_fsm.errors import EXIT_ITEMS_FAILED

    resume_hint = f"resume with: {resume_command(result.job_id, state_dir)}"
    if as_json:
        click.echo(json.dumps(summary_json(result), ensure_ascii=False))
    items_failed = result.exit_code == EXIT_ITEMS_FAILED
    if result.nothing_to_do:
        click.echo(f"job {result.job_id} is already completed: nothing to do", err=True)
    elif result.interrupted:
        click.echo(f"job {result.job_id} interrupted in {result.state}; {resume_hint}", err=True)
    elif result.state == "completed":
        if not quiet and not items_failed:
            click.echo(f"job {result.job_id} completed", err=True)
    elif result.state == "paused":
        click.echo(f"job {result.job_id} paused; {resume_hint}", err=True)
    else:
        where = f" in {result.failed_phase}" if result.failed_phase else ""
        click.echo(f"job {result.job_id} failed{where}: {result.error}\n{resume_hint}", err=True)
    if items_failed:  # the last line, even with -q: the exit code alone says too little
        click.echo(items_failed_line(result, state_dir), err=True)


def summary_json(result: WorkflowResult) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "state": result.state,
        "exit_code": result.exit_code,
        "error": result.error,
        "interrupted": result.interrupted,
        "nothing_to_do": result.nothing_to_do,
        "items": {"total": result.items_total, "failed": result.items_failed,
                  "skipped": result.items_skipped},
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


def step_label(step: Step) -> str:
    """A step in a few words: its name, else the start of its command."""
    if step.name:
        return step.name
    if step.write_file is not None:
        return f"write_file {step.write_file.path}"
    kind, text = ("claude", step.claude) if step.claude is not None else ("shell", step.shell)
    first_line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    if len(first_line) > PLAN_COMMAND_WIDTH:
        first_line = first_line[: PLAN_COMMAND_WIDTH - 3] + "..."
    return f"{kind}: {first_line}"


def plan_phases(workflow: Workflow, *, max_parallel: int | None,
                isolated: bool | None = None) -> list[dict[str, Any]]:
    """The phases `run` would go through, in order, each with its heading and step labels."""
    from mapreduce_fsm import build_phases
    from mapreduce_fsm.phases.types import processes_items

    steps: dict[str, tuple[Step, ...]] = {
        "setup": workflow.setup.commands if workflow.setup else (),
        "map": workflow.map.agent_template,
        "reduce": workflow.reduce.commands if workflow.reduce else (),
        "merge": workflow.merge.commands if workflow.merge else (),
    }
    phases = []
    for phase in build_phases(workflow, isolated=isolated):
        heading = phase.name
        if processes_items(phase):
            parallel = max_parallel or workflow.map.max_parallel
            heading += f": each item of {workflow.map.input}, at most {parallel} at once"
        elif phase.name == "reduce" and workflow.reduce is not None:
            heading += f" (confirm: {workflow.reduce.confirm})"
        phases.append({"name": phase.name, "heading": heading,
                       "steps": [step_label(step) for step in steps.get(phase.name, ())]})
    return phases


def print_plan(job: NewJob, *, max_parallel: int | None, run_command: bool,
               as_json: bool, isolation: IsolationPlan | None = None) -> int:
    """What `run` would do: the phases in order and their steps, and the map's items as
    each selection stage keeps them; no step runs, and a map.input command only with
    `run_command` (--yes). The exit code: 1 when the run would fail loading the items."""
    from mapreduce_fsm.config import describe_workflow
    from mapreduce_fsm.errors import EXIT_COMPLETED, EXIT_FAILED
    from mapreduce_fsm.jobs.preview import preview

    isolated = None if isolation is None else isolation.isolated
    phases = plan_phases(job.workflow, max_parallel=max_parallel, isolated=isolated)
    items = preview(job, run_command=run_command)
    if as_json:
        shown = None if isolation is None else {"mode": isolation.mode,
                                                "reason": isolation.reason}
        click.echo(json.dumps({"workflow": job.workflow.name, "isolation": shown,
                               "phases": phases, "items": items.as_json()},
                              ensure_ascii=False))
        return EXIT_FAILED if items.error is not None else EXIT_COMPLETED
    click.echo(describe_workflow(job.workflow))
    if isolation is not None:
        click.echo(isolation.describe())
    click.echo("plan:")
    for number, phase in enumerate(phases, start=1):
        click.echo(f"  {number}. {phase['heading']}")
        for label in phase["steps"]:
            click.echo(f"       - {label}")
    if items.error is not None:
        click.echo(f"items: cannot be loaded: {items.error}")
    elif items.not_loaded is not None:
        click.echo(f"items: not counted: {items.not_loaded}")
    else:
        click.echo(f"items from {items.origin}:")
        for stage, count in items.stage_counts:
            click.echo(f"  {stage + ':':<11}{count}")
        if items.first_ids:
            more = ", ..." if items.stage_counts[-1][1] > len(items.first_ids) else ""
            click.echo(f"  first ids: {', '.join(items.first_ids)}{more}")
    for warning in items.warnings:
        click.echo(f"warning: {warning}", err=True)
    ran = "; the map.input command ran (--yes)" if items.origin.startswith("command") else ""
    click.echo(f"dry run: no step was run and no job was created{ran}")
    if items.error is not None:
        click.echo("error: the run would fail loading the map's items (above)", err=True)
        return EXIT_FAILED
    return EXIT_COMPLETED


def check_max_parallel(context: click.Context, parameter: click.Parameter,
                       value: int | None) -> int | None:
    """--max-parallel in the project's words, not click's range notation."""
    if value is not None and value < 1:
        from mapreduce_fsm.errors import UsageError

        raise UsageError(f"--max-parallel must be 1 or more, got {value}")
    return value


MAX_PARALLEL_OPTION = click.option("--max-parallel", type=WHOLE_NUMBER, callback=check_max_parallel,
                                   help="Override map.max_parallel (1 or more).")


def _refuse_verbose_and_quiet(verbose: bool, quiet: bool) -> None:
    if verbose and quiet:
        from mapreduce_fsm import UsageError

        raise UsageError("-v/--verbose and -q/--quiet contradict each other; give one of them")


@click.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--job-id", help="Id of the new job (default: <name>-<yyyymmdd-hhmmss>-<4 hex>).")
@STATE_DIR_OPTION
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@MAX_PARALLEL_OPTION
@click.option("--isolation", type=click.Choice(["auto", "worktree", "none"]),
              help="Git worktree per item and a merge phase (default: the workflow's, auto).")
@click.option("--dry-run", is_flag=True,
              help="Check the workflow, show the plan and count the items; run no step "
                   "(a map.input command only with --yes).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show each phase as it starts and ends, and the stderr of setup and reduce "
                   "steps that succeed.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress and no step output (it is kept: see `logs`).")
@click.option("--profile", help="Lay the workflow's profiles.NAME over its env (kept for resume).")
@BACKEND_OPTION
@SCHEDULER_OPTION
def run(workflow: str, job_id: str | None, state_dir: str | None, yes: bool,
        max_parallel: int | None, isolation: str | None, dry_run: bool, as_json: bool,
        verbose: bool, quiet: bool, profile: str | None, backend: str | None,
        scheduler: str | None) -> None:
    """Run WORKFLOW as a new job."""
    from mapreduce_fsm.git import decide_isolation
    from mapreduce_fsm.jobs.run import plan_job, start_job

    _refuse_verbose_and_quiet(verbose, quiet)
    job = plan_job(workflow, job_id=job_id, state_dir=state_dir,  # the one load and check
                   profile=profile)
    plan = decide_isolation(job.workflow, requested=isolation, cwd=job.working_dir)
    if dry_run:
        sys.exit(print_plan(job, max_parallel=max_parallel, run_command=yes, as_json=as_json,
                            isolation=plan))
    if not quiet:
        click.echo(f"job {job.job_id}: running {job.workflow.name} (files in {job.path})",
                   err=True)
        click.echo(plan.describe(), err=True)
    services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=False,
                             verbose=verbose, isolation=isolation)
    result = drive(on_backend(backend, scheduler, job.working_dir, services,
                              lambda chosen: start_job(job, services=chosen)),
                   lambda: interrupted_run(job.job_id, state_dir))
    report(result, as_json=as_json, quiet=quiet, state_dir=state_dir)
    sys.exit(result.exit_code)


@click.command()
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@click.option("--force", is_flag=True, help="Resume even if the workflow file or input changed.")
@click.option("--max-parallel", type=WHOLE_NUMBER, callback=check_max_parallel,
              help="Override map.max_parallel (default: the value the run was given).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show each phase as it starts and ends, and the stderr of setup and reduce "
                   "steps that succeed.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress and no step output (it is kept: see `logs`).")
@BACKEND_OPTION
@SCHEDULER_OPTION
def resume(job_id: str, state_dir: str | None, yes: bool, force: bool,
           max_parallel: int | None, as_json: bool, verbose: bool, quiet: bool,
           backend: str | None, scheduler: str | None) -> None:
    """Continue JOB_ID where it stopped."""
    _refuse_verbose_and_quiet(verbose, quiet)
    try:
        from mapreduce_fsm import resume_async

        store = None if quiet else open_job(job_id, state_dir)  # an unknown job: said here
        # A job another process runs is refused below: no "resuming" line before that.
        if store is not None and store.lock().live_holder() is None:
            checkpoint = store.load_checkpoint()
            name = f" {checkpoint.workflow_name}" if checkpoint else ""
            click.echo(f"job {job_id}: resuming{name} (files in {store.path})", err=True)
            from mapreduce_fsm.git import GitSession

            isolated = GitSession.load(store.path) is not None  # what resume goes on with
            click.echo(f"isolation: {'worktree' if isolated else 'none'} (kept from the run)",
                       err=True)
        services = make_services(yes=yes, quiet=quiet, max_parallel=max_parallel, force=force,
                                 verbose=verbose)
    except KeyboardInterrupt:  # before drive() handles signals: nothing has changed yet
        click.echo(f"interrupted before job {job_id} was loaded; nothing changed; "
                   f"resume with: {resume_command(job_id, state_dir)}", err=True)
        sys.exit(130)
    result = drive(on_backend(backend, scheduler, job_working_dir(job_id, state_dir), services,
                              lambda chosen: resume_async(job_id, state_dir=state_dir,
                                                          services=chosen)),
                   lambda: interrupted_run(job_id, state_dir))
    report(result, as_json=as_json, quiet=quiet, state_dir=state_dir)
    sys.exit(result.exit_code)
