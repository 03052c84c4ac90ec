"""The read-only commands: `jobs`, `status`, `events`, `diagram`, and `run --dry-run`'s plan."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click

from mapreduce_fsm.config import describe_workflow, load_workflow
from mapreduce_fsm.config.model import Step, Workflow
from mapreduce_fsm.convert import converter, parse_timestamp
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git import IsolationPlan
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.registry import build_phases
from mapreduce_fsm.state import JobStore, check_job_id, list_jobs, resolve_state_dir

PLAN_COMMAND_WIDTH = 60
NO_CHECKPOINT_STATES = ("unknown", "not started")  # what `jobs` and `status` show then
STATE_DIR_OPTION = click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Where jobs live."
)


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "-"
    then = parse_timestamp(timestamp)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _shown_state(state: str, running: bool) -> str:
    """A job's state for people: a job left mid-way that no process runs is "stopped in X"."""
    if running or state in fsm.ENDED_STATES or state in NO_CHECKPOINT_STATES:
        return state
    return f"stopped in {state}"


def _open(job_id: str, state_dir: str | None) -> JobStore:
    return JobStore.open(resolve_state_dir(state_dir), check_job_id(job_id))


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


def print_plan(workflow: Workflow, *, max_parallel: int | None,
               isolation: IsolationPlan | None = None) -> None:
    """What `run` would do: the phases in order and their steps; nothing runs."""
    click.echo(describe_workflow(workflow))
    if isolation is not None:
        click.echo(isolation.describe())
    steps: dict[str, tuple[Step, ...]] = {
        "setup": workflow.setup.commands if workflow.setup else (),
        "map": workflow.map.agent_template,
        "reduce": workflow.reduce.commands if workflow.reduce else (),
        "merge": workflow.merge.commands if workflow.merge else (),
    }
    click.echo("plan:")
    isolated = None if isolation is None else isolation.isolated
    for number, phase in enumerate(build_phases(workflow, isolated=isolated), start=1):
        heading = phase.name
        if phase.name == "map":
            parallel = max_parallel or workflow.map.max_parallel
            heading += f": each item of {workflow.map.input}, at most {parallel} at once"
        elif phase.name == "reduce" and workflow.reduce is not None:
            heading += f" (confirm: {workflow.reduce.confirm})"
        click.echo(f"  {number}. {heading}")
        for step in steps.get(phase.name, ()):
            click.echo(f"       - {step_label(step)}")
    click.echo("dry run: nothing was run and no job was created")


@click.command()
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def jobs(state_dir: str | None, as_json: bool) -> None:
    """List jobs: id, name, state, items ok/failed/total, age."""
    summaries = list_jobs(resolve_state_dir(state_dir))
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(converter.unstructure(summary)))
        return
    from rich.console import Console  # rich is slow to import; only tables need it here
    from rich.table import Table

    table = Table("job", "workflow", "state", "ok", "failed", "total", "age")
    for s in summaries:
        state = _shown_state(s.state, s.running)
        state = state if s.problem is None else f"{state} ({s.problem})"
        table.add_row(s.job_id, s.workflow_name, state, str(s.ok), str(s.failed),
                      "-" if s.total is None else str(s.total), _age(s.updated_at))
    Console(width=160).print(table) if summaries else click.echo("no jobs")


@click.command()
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(job_id: str, state_dir: str | None, as_json: bool) -> None:
    """Show a job's state, each phase's progress and its items' counts by status."""
    store = _open(job_id, state_dir)
    checkpoint = store.load_checkpoint()
    loaded = store.results.load()
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    results = loaded.results
    counts = Counter(result.status for result in results.values())
    in_flight: dict[str, str] = {}
    for event in store.events.read(types={"item.started", "item.finished"}):
        item_id = str(event.data.get("item_id"))
        if event.type == "item.started":
            in_flight[item_id] = event.at
        else:
            in_flight.pop(item_id, None)
    running = store.lock().live_holder() is not None
    if not running:
        in_flight = {}
    payload = {
        "job_id": job_id,
        "state": checkpoint.state if checkpoint else "not started",
        "workflow": checkpoint.workflow_name if checkpoint else None,
        "phases": {
            name: converter.unstructure(progress)
            for name, progress in (checkpoint.phases.items() if checkpoint else [])
        },
        "items": dict(counts),
        "dead_lettered": len(store.dlq.load()),
        "in_flight": sorted(in_flight),
        "running": running,
    }
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    workflow_name = f" ({payload['workflow']})" if payload["workflow"] else ""
    shown = _shown_state(str(payload["state"]), running)
    if shown != payload["state"]:
        from mapreduce_fsm.cli.run import resume_command

        shown += f"; resume with: {resume_command(job_id, state_dir)}"
    click.echo(f"job {job_id}{workflow_name}: {shown}")
    for name in checkpoint.phase_order if checkpoint else []:
        progress = checkpoint.phases.get(name) if checkpoint else None
        line = f"  {name}: {progress.status if progress else 'pending'}"
        total = progress.data.get("total") if progress else None
        if name == "map" and isinstance(total, int):
            line += f", {len(results)}/{total} items done"
        if progress and progress.error:
            line += f" — {progress.error}"
        click.echo(line)
    items = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none yet"
    click.echo(f"  items: {items}; dead-lettered {payload['dead_lettered']}")
    if in_flight:
        click.echo(f"  running now: {', '.join(sorted(in_flight)[:20])}")


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
    store = _open(job_id, state_dir)
    wanted = set(types) or None
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
    if (workflow is None) == (job_id is None):
        raise UsageError("diagram takes a WORKFLOW file or --job JOB_ID (one of them)")
    active = None
    if job_id is not None:
        checkpoint = _open(job_id, state_dir).load_checkpoint()
        if checkpoint is None:
            raise UsageError(f"job {job_id} has no checkpoint yet")
        names, active, title = list(checkpoint.phase_order), checkpoint.state, f"job {job_id}"
    else:
        assert workflow is not None
        loaded = load_workflow(workflow)
        names, title = [p.name for p in build_phases(loaded)], loaded.name
    if fmt == "mermaid":
        text = fsm.mermaid_diagram(names, active=active, title=title)
    else:
        text = fsm.dot_source(names, active=active, title=title)
    if fmt == "svg":
        text = render_svg(text)
    if output:
        write_output_file(output, text)
    else:
        click.echo(text, nl=False)


def write_output_file(output: str, text: str) -> None:
    """`-o FILE`: write `text` there; a path that cannot be written is a usage error."""
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None


def render_svg(dot_text: str) -> str:
    """SVG from dot source with Graphviz's `dot` program."""
    program = shutil.which("dot")
    if program is None:
        raise UsageError(
            "--format svg needs Graphviz's `dot` program, which is not on PATH; install it "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) or use "
            "--format mermaid"
        )
    done = subprocess.run([program, "-Tsvg"], input=dot_text, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise UsageError(f"dot failed: {done.stderr.strip()}")
    return done.stdout
