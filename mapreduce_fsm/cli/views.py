"""The read-only commands: `jobs`, `status`, `events` and `diagram`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from mapreduce_fsm.cli.shared import (
    NO_CHECKPOINT_STATES,
    STATE_DIR_OPTION,
    job_command,
    open_job,
    resume_command,
    shown_state,
    write_output_file,
)

ITEM_EVENT_TYPES = frozenset({"item.started", "item.retry_scheduled", "item.finished"})


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "-"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.command()
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def jobs(state_dir: str | None, as_json: bool) -> None:
    """List jobs: id, name, state, items ok/failed/total, age."""
    from mapreduce_fsm.convert import converter
    from mapreduce_fsm.state import list_jobs, resolve_state_dir

    summaries = list_jobs(resolve_state_dir(state_dir))
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(converter.unstructure(summary)))
        return
    if not summaries:
        click.echo("no jobs")
        return
    from rich.console import Console  # rich is slow to import; only tables need it here
    from rich.table import Table

    table = Table("job", "workflow", "state", "ok", "failed", "total", "age")
    for s in summaries:
        state = shown_state(s.state, s.running)
        state = state if s.problem is None else f"{state} ({s.problem})"
        table.add_row(s.job_id, s.workflow_name, state, str(s.ok), str(s.failed),
                      "-" if s.total is None else str(s.total), _age(s.updated_at))
    Console(width=160).print(table)


@click.command()
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(job_id: str, state_dir: str | None, as_json: bool) -> None:
    """Show a job's state, each phase's progress and its items' counts by status."""
    from mapreduce_fsm.convert import converter
    from mapreduce_fsm.phases.machine import check_machine_state

    store = open_job(job_id, state_dir)
    checkpoint = store.load_checkpoint()
    if checkpoint is not None:
        check_machine_state(checkpoint, store.checkpoint_path)
    loaded = store.results.counts()  # ids and statuses only, from the kept counts on
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    counts = loaded.statuses
    running = store.lock().live_holder() is not None
    in_flight, waiting = set(), set()  # an attempt runs; a failed attempt waits for its retry
    if running:  # with no process running the job nothing is in flight: skip the event log
        for event in store.events.read(types=ITEM_EVENT_TYPES):
            item_id = str(event.data.get("item_id"))
            in_flight.discard(item_id)
            waiting.discard(item_id)
            if event.type == "item.started":
                in_flight.add(item_id)
            elif event.type == "item.retry_scheduled":
                waiting.add(item_id)
    dead_lettered = len(store.dlq.load())
    state = checkpoint.state if checkpoint else "not started"
    next_step = _next_step(job_id, state_dir, state, running=running,
                           dead_lettered=dead_lettered)
    payload = {
        "job_id": job_id,
        "state": checkpoint.state if checkpoint else "not started",
        "workflow": checkpoint.workflow_name if checkpoint else None,
        "phases": {
            name: converter.unstructure(progress)
            for name, progress in (checkpoint.phases.items() if checkpoint else [])
        },
        "items": dict(counts),
        "dead_lettered": dead_lettered,
        "in_flight": sorted(in_flight),
        "waiting": sorted(waiting),
        "running": running,
        "next_command": next_step[1] if next_step else None,
    }
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    workflow_name = f" ({payload['workflow']})" if payload["workflow"] else ""
    shown = shown_state(state, running)
    if next_step is not None:
        shown += f"; {next_step[0]} {next_step[1]}"
    click.echo(f"job {job_id}{workflow_name}: {shown}")
    for name in checkpoint.phase_order if checkpoint else []:
        progress = checkpoint.phases.get(name) if checkpoint else None
        phase_status: str = progress.status if progress else "pending"
        if phase_status == "running" and not running:  # the process that ran it is gone
            phase_status = "stopped"
        line = f"  {name}: {phase_status}"
        total = progress.data.get("total") if progress else None
        if checkpoint and name == checkpoint.item_phase and isinstance(total, int) and total:
            line += f", {loaded.items}/{total} items done"
        if progress and progress.error:
            line += f" — {progress.error}"
        click.echo(line)
    from mapreduce_fsm.phases.machine import ENDED_STATES

    none = "none" if state in ENDED_STATES else "none yet"
    items = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or none
    click.echo(f"  items: {items}; dead-lettered {payload['dead_lettered']}")
    if in_flight:
        click.echo(f"  running now: {', '.join(sorted(in_flight)[:20])}")
    if waiting:
        click.echo(f"  waiting for a retry: {', '.join(sorted(waiting)[:20])}")


def _next_step(job_id: str, state_dir: str | None, state: str, *, running: bool,
               dead_lettered: int) -> tuple[str, str] | None:
    """What to do next with a job nobody runs, and the command for it; None when nothing."""
    from mapreduce_fsm.phases.machine import COMPLETED

    if running or state in NO_CHECKPOINT_STATES:
        return None
    if state == COMPLETED:
        if not dead_lettered:
            return None
        items = "item" if dead_lettered == 1 else "items"
        return (f"retry the {dead_lettered} dead-lettered {items} with:",
                job_command("dlq retry", job_id, state_dir))
    return "resume with:", resume_command(job_id, state_dir)  # interrupted, failed, paused


@click.command()
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing new events until the process running the job ends.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
def events(job_id: str, state_dir: str | None, follow: bool, types: tuple[str, ...],
           as_json: bool) -> None:
    """Print a job's event log."""
    from mapreduce_fsm.cli.event_types import check_event_types
    from mapreduce_fsm.convert import converter

    store = open_job(job_id, state_dir)
    wanted = set(types) or None
    check_event_types(store, set(types))
    if follow:
        lock = store.lock()
        stream = store.events.follow(types=wanted, stop=lambda: lock.live_holder() is None)
    else:
        stream = store.events.read(types=wanted)
    try:
        for event in stream:
            if as_json:
                click.echo(json.dumps(converter.unstructure(event), ensure_ascii=False))
                continue
            details = " ".join(f"{k}={v}" for k, v in event.data.items() if v is not None)
            phase = f" [{event.phase}]" if event.phase else ""
            click.echo(f"{event.seq:>6} {event.at} {event.type}{phase} {details}".rstrip())
    except KeyboardInterrupt:
        return


@click.command()
@click.argument("workflow", required=False, type=click.Path(dir_okay=False))
@click.option("--job", "job_id", help="Draw this job's machine, its current state marked.")
@STATE_DIR_OPTION
@click.option("--format", "fmt", type=click.Choice(["mermaid", "svg", "dot"]), default="mermaid")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
def diagram(workflow: str | None, job_id: str | None, state_dir: str | None, fmt: str,
            output: str | None) -> None:
    """Draw the state machine of WORKFLOW, or of a job with --job."""
    from mapreduce_fsm import UsageError, build_phases, load_workflow
    from mapreduce_fsm.phases import machine as fsm
    from mapreduce_fsm.phases.diagrams import render_svg
    from mapreduce_fsm.phases.types import item_phase

    if (workflow is None) == (job_id is None):
        raise UsageError("diagram takes a WORKFLOW file or --job JOB_ID (one of them)")
    active = None
    if job_id is not None:
        checkpoint = open_job(job_id, state_dir).load_checkpoint()
        if checkpoint is None:
            raise UsageError(f"job {job_id} has no checkpoint yet")
        names, active, title = list(checkpoint.phase_order), checkpoint.state, f"job {job_id}"
        items_phase = checkpoint.item_phase
    else:
        assert workflow is not None
        loaded = load_workflow(workflow)
        phases = build_phases(loaded)
        names, title, items_phase = [p.name for p in phases], loaded.name, item_phase(phases)
    draw = fsm.mermaid_diagram if fmt == "mermaid" else fsm.dot_source
    text = draw(names, item_phase=items_phase, active=active, title=title)
    if fmt == "svg":
        text = render_svg(text)
    if output:
        write_output_file(output, text)
    else:
        click.echo(text, nl=False)

