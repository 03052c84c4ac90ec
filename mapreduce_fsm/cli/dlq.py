"""The `dlq` commands: list, show, retry, purge and export a job's dead-letter queue."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from mapreduce_fsm.cli.backend_flags import (
    BACKEND_OPTION,
    SCHEDULER_OPTION,
    job_working_dir,
    on_backend,
)
from mapreduce_fsm.cli.run import make_services, report
from mapreduce_fsm.cli.shared import (
    STATE_DIR_OPTION,
    drive,
    interrupted_run,
    job_command,
    open_job,
    write_output_file,
)

if TYPE_CHECKING:
    from mapreduce_fsm import DlqEntry

EXPORT_FORMATS = ("json", "csv")  # as dlq.EXPORT_FORMATS, which is not imported for --help
ITEM_OPTION = click.option(
    "--item", "item_ids", multiple=True, metavar="ID", help="Only this item (repeatable)."
)
_EXAMPLES = 3  # item ids shown per signature in `dlq list`
_ERROR_CHARS = 120


def _shorten(text: str | None, limit: int = _ERROR_CHARS) -> str:
    if not text:
        return "-"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


@click.group()
def dlq() -> None:
    """Inspect, retry, purge and export a job's dead-letter queue."""


@dlq.command(name="list")
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
def list_entries(job_id: str, state_dir: str | None, as_json: bool) -> None:
    """Dead-lettered items of JOB_ID, grouped by how they failed."""
    from mapreduce_fsm import dlq as dead_letters

    entries = open_job(job_id, state_dir).dlq.load()
    if as_json:
        for entry in entries:
            click.echo(json.dumps(dead_letters.entry_summary(entry), ensure_ascii=False))
        return
    if not entries:
        click.echo(f"job {job_id} has no dead-lettered items")
        return
    from rich.console import Console  # rich is slow to import; only tables need it here
    from rich.table import Table

    table = Table("signature", "count", "example items", "last error")
    groups = dead_letters.group_by_signature(entries)
    for group in groups:
        examples = ", ".join(group.item_ids[:_EXAMPLES])
        if group.count > _EXAMPLES:
            examples += f", … (+{group.count - _EXAMPLES})"
        table.add_row(group.signature, str(group.count), examples, _shorten(group.last_error))
    Console(width=160, highlight=False).print(table)
    kinds = "1 kind of failure" if len(groups) == 1 else f"{len(groups)} kinds of failure"
    click.echo(f"{len(entries)} dead-lettered item{'s' if len(entries) != 1 else ''}, {kinds}")


@dlq.command()
@click.argument("job_id")
@click.argument("item_id")
@STATE_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the whole entry as JSON.")
def show(job_id: str, item_id: str, state_dir: str | None, as_json: bool) -> None:
    """One dead-lettered item: the item and every attempt at it."""
    from mapreduce_fsm import dlq as dead_letters
    from mapreduce_fsm.convert import converter

    (entry,) = dead_letters.find_entries(open_job(job_id, state_dir), [item_id])
    if as_json:
        click.echo(json.dumps(converter.unstructure(entry), ensure_ascii=False))
        return
    click.echo(_describe(entry))
    click.echo("full output of every attempt: "
               f"{job_command('logs', job_id, state_dir, item_id)}")


def _describe(entry: DlqEntry) -> str:
    lines = [
        f"item {entry.item_id} (index {entry.item_index}), dead-lettered at {entry.added_at}",
        f"signature: {entry.signature}",
        "item:",
        *("  " + line for line in json.dumps(entry.item, ensure_ascii=False,
                                              indent=2).splitlines()),
        f"attempts: {len(entry.attempts)}",
    ]
    for attempt in entry.attempts:
        code = "-" if attempt.exit_code is None else str(attempt.exit_code)
        lines += [
            f"  attempt {attempt.attempt}: {attempt.status} at {attempt.at}, exit code {code}, "
            f"failed step {attempt.failed_step or '-'}",
            f"    error: {attempt.error or '-'}",
        ]
        if attempt.stderr_tail.strip():
            lines.append("    stderr tail:")
            lines += ["      " + line for line in attempt.stderr_tail.rstrip("\n").splitlines()]
    return "\n".join(lines)


@dlq.command(name="retry")
@click.argument("job_id")
@ITEM_OPTION
@STATE_DIR_OPTION
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every question.")
@click.option("--force", is_flag=True, help="Go on even if the workflow file changed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@BACKEND_OPTION
@SCHEDULER_OPTION
def retry_items(job_id: str, item_ids: tuple[str, ...], state_dir: str | None, yes: bool,
                force: bool, quiet: bool, backend: str | None, scheduler: str | None) -> None:
    """Re-run dead-lettered items of JOB_ID (all of them, or each --item) inside the job.

    New results replace the old; items that succeed leave the DLQ. The phases after the
    map (reduce) then run again over the updated results, after asking. Exits 0 when the
    job completed with every item succeeded, 4 when items are still dead-lettered, 1 when
    it failed, 3 when it paused or the question was declined, 130 when interrupted.
    """
    from mapreduce_fsm import dlq as dead_letters
    from mapreduce_fsm.phases.machine import ENDED_STATES

    services = make_services(yes=yes, quiet=quiet, max_parallel=None, force=force)
    outcome = drive(
        on_backend(backend, scheduler, job_working_dir(job_id, state_dir), services,
                   lambda chosen: dead_letters.retry_dead_letters(
                       job_id, list(item_ids) or None, state_dir=state_dir, services=chosen)),
        # Interrupted (Ctrl-C): the job's checkpoint says where it is.
        lambda: dead_letters.RetryReport(job_id=job_id, retried=(),
                                         result=interrupted_run(job_id, state_dir)),
    )
    if outcome.result is None:
        if outcome.declined:
            click.echo(f"nothing retried: job {job_id} is unchanged", err=True)
        sys.exit(outcome.exit_code)
    if outcome.result.interrupted and outcome.result.state in ENDED_STATES:
        # Ctrl-C before the job moved into the map (at the question): nothing to resume.
        click.echo(f"interrupted: nothing retried; job {job_id} is unchanged", err=True)
        sys.exit(outcome.exit_code)
    if not outcome.result.interrupted:
        click.echo(
            f"retried {len(outcome.retried)}: {len(outcome.recovered)} succeeded and left "
            f"the dead-letter queue, {len(outcome.still_dead_lettered)} still dead-lettered",
            err=True,
        )
    report(outcome.result, as_json=False, quiet=quiet, state_dir=state_dir)
    sys.exit(outcome.exit_code)


@dlq.command()
@click.argument("job_id")
@ITEM_OPTION
@STATE_DIR_OPTION
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing every entry.")
def purge(job_id: str, item_ids: tuple[str, ...], state_dir: str | None, yes: bool) -> None:
    """Remove dead-letter entries of JOB_ID: each --item, or all of them after asking."""
    from mapreduce_fsm import EXIT_PAUSED, UsageError
    from mapreduce_fsm import dlq as dead_letters
    from mapreduce_fsm.console.interaction import choose_interaction

    store = open_job(job_id, state_dir)
    if not item_ids:
        count = len(store.dlq.load())
        if count == 0:
            click.echo(f"job {job_id} has no dead-lettered items: nothing to purge")
            return
        interaction = choose_interaction(assume_yes=yes, quiet=False)
        if not yes and not interaction.interactive:  # never delete everything unasked
            raise UsageError(
                f"removing all {count} dead-letter entries of job {job_id} needs --yes when "
                "there is no terminal to ask on; or name the entries with --item"
            )
        question = f"Remove all {count} dead-letter entries of job {job_id}?"
        if not interaction.prompt_yes_no(question, default=False):
            click.echo("nothing purged", err=True)
            sys.exit(EXIT_PAUSED)
    removed = dead_letters.purge(store, list(item_ids) or None)
    click.echo(f"purged {removed} dead-letter entr{'y' if removed == 1 else 'ies'} "
               f"from job {job_id}")


@dlq.command(name="export")
@click.argument("job_id")
@STATE_DIR_OPTION
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS),
              help="json: an array of full entries; csv: one row per entry.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
def export(job_id: str, state_dir: str | None, fmt: str, output: str | None) -> None:
    """Write JOB_ID's dead-letter entries as JSON or CSV."""
    from mapreduce_fsm import dlq as dead_letters

    text = dead_letters.export_entries(open_job(job_id, state_dir).dlq.load(), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    write_output_file(output, text)
    click.echo(f"wrote {output}", err=True)
