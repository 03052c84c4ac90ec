"""The dead-letter queue from Python: list, group, show, export, purge and retry a job's DLQ.

A job whose three items each read a file that is not there yet:

>>> import os, tempfile
>>> from mapreduce_fsm import run
>>> os.chdir(tempfile.mkdtemp())
>>> _ = open("items.json", "w").write('["a", "b", "c"]')
>>> _ = open("demo.yml", "w").write("name: demo\\nmap: {input: items.json, "
...                                  "agent_template: [{shell: 'cat in/${item}.txt'}]}")
>>> job_id = run("demo.yml", state_dir="state").job_id
>>> store = open_job(job_id, state_dir="state")
>>> [(g.signature, g.count) for g in group_by_signature(store.dlq.load())]
[('step "cat in/${item}.txt": exit 1: cat: <path>: No such file or directory', 3)]

Once two of the files exist, a retry recovers those two items and the third stays:

>>> os.mkdir("in")
>>> _ = open("in/a.txt", "w").write("found")
>>> _ = open("in/b.txt", "w").write("found")
>>> report = retry(job_id, state_dir="state")
>>> report.recovered, report.still_dead_lettered
(('item-0', 'item-1'), ('item-2',))

Retrying re-runs the items inside the same job: the job moves into its map by the
`retry_items` trigger, the items start a fresh round of attempts, their new results
replace the old ones, and the phases after the map (reduce, custom phases) run again
so that they see the new results. An item that succeeds leaves the DLQ; one that
fails again stays, with the new attempts appended to its history.
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import io
import json
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.convert import converter
from mapreduce_fsm.errors import EXIT_COMPLETED, EXIT_PAUSED, JobStateError, UsageError
from mapreduce_fsm.git import GitSession
from mapreduce_fsm.jobs.load import load_job
from mapreduce_fsm.jobs.run import Services, _coordinator, keep_run_options
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.coordinator import WorkflowResult
from mapreduce_fsm.phases.registry import build_phases
from mapreduce_fsm.phases.types import PhaseExecutor, item_phase
from mapreduce_fsm.state import JobStore, check_job_id, resolve_state_dir
from mapreduce_fsm.state.records import AttemptRecord, DlqEntry

EXPORT_FORMATS = ("json", "csv")
CSV_COLUMNS = (
    "item_id", "item_index", "signature", "attempts", "last_error", "last_exit_code",
    "failed_step", "added_at", "item_json",
)
_IDS_NAMED = 10  # how many existing ids an "unknown item" message lists


def open_job(
    job_id: str,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> JobStore:
    """The existing job `job_id` (JobStateError with similar ids if there is none)."""
    return JobStore.open(resolve_state_dir(state_dir, environ=environ), check_job_id(job_id))


@attrs.frozen(kw_only=True)
class SignatureGroup:
    """DLQ entries that failed the same way: one row of `dlq list`."""

    signature: str
    item_ids: tuple[str, ...]  # in the order they were dead-lettered
    last_error: str | None  # the error of the most recently dead-lettered item

    @property
    def count(self) -> int:
        return len(self.item_ids)


def last_attempt(entry: DlqEntry) -> AttemptRecord | None:
    return entry.attempts[-1] if entry.attempts else None


def group_by_signature(entries: Iterable[DlqEntry]) -> list[SignatureGroup]:
    """Entries grouped by failure signature, the largest group first (ties by signature)."""
    groups: dict[str, list[DlqEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.signature, []).append(entry)
    made = []
    for signature, members in groups.items():
        last = last_attempt(members[-1])
        made.append(SignatureGroup(
            signature=signature, item_ids=tuple(member.item_id for member in members),
            last_error=None if last is None else last.error,
        ))
    return sorted(made, key=lambda group: (-group.count, group.signature))


def entry_summary(entry: DlqEntry) -> dict[str, Any]:
    """One line of `dlq list --json`."""
    last = last_attempt(entry)
    return {
        "item_id": entry.item_id,
        "item_index": entry.item_index,
        "signature": entry.signature,
        "attempts": len(entry.attempts),
        "last_error": None if last is None else last.error,
        "added_at": entry.added_at,
    }


def find_entries(store: JobStore, item_ids: Sequence[str]) -> list[DlqEntry]:
    """The DLQ entries of these items, in the order given; UsageError naming any unknown id."""
    entries = {entry.item_id: entry for entry in store.dlq.load()}
    unknown = [item_id for item_id in dict.fromkeys(item_ids) if item_id not in entries]
    if unknown:
        raise UsageError(_unknown_items_message(store, unknown, list(entries)))
    return [entries[item_id] for item_id in dict.fromkeys(item_ids)]


def _unknown_items_message(store: JobStore, unknown: list[str], known: list[str]) -> str:
    job_id = store.job_id
    named = ", ".join(repr(item_id) for item_id in unknown)
    if not known:
        return f"job {job_id} has no dead-letter entry for {named}: its dead-letter queue is empty"
    similar = difflib.get_close_matches(unknown[0], known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(similar)}?" if similar else ""
    shown = ", ".join(known[:_IDS_NAMED])
    more = f" and {len(known) - _IDS_NAMED} more" if len(known) > _IDS_NAMED else ""
    items_are = "item is" if len(known) == 1 else "items are"
    return (
        f"job {job_id} has no dead-letter entry for {named}{hint} "
        f"(the {len(known)} dead-lettered {items_are}: {shown}{more}; "
        f"see `{_job_command(store, 'dlq list')}`)"
    )


def _job_command(store: JobStore, words: str) -> str:
    """`mapreduce-fsm WORDS JOB_ID`, with --state-dir when the job is not in the state dir a
    command run here would use by default (so the command finds it)."""
    command = f"mapreduce-fsm {words} {shlex.quote(store.job_id)}"
    if store.state_dir.absolute() == resolve_state_dir(None):
        return command
    return f"{command} --state-dir {shlex.quote(str(store.state_dir))}"


def purge(store: JobStore, item_ids: Sequence[str] | None = None) -> int:
    """Remove these items' entries (all entries when `item_ids` is None); returns how many.

    Holds the job's lock, so it cannot race a run that is adding entries.
    """
    with store.lock():
        if item_ids is None:
            return store.dlq.remove({entry.item_id for entry in store.dlq.load()})
        find_entries(store, item_ids)
        return store.dlq.remove(set(item_ids))


def export_entries(entries: Sequence[DlqEntry], fmt: str) -> str:
    """The entries as `json` (an array of full entries) or `csv` (one row each, CSV_COLUMNS)."""
    if fmt == "json":
        return json.dumps([converter.unstructure(e) for e in entries], ensure_ascii=False,
                          indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            last = last_attempt(entry)
            writer.writerow([
                entry.item_id, entry.item_index, entry.signature, len(entry.attempts),
                "" if last is None or last.error is None else last.error,
                "" if last is None or last.exit_code is None else last.exit_code,
                "" if last is None or last.failed_step is None else last.failed_step,
                entry.added_at,
                json.dumps(entry.item, ensure_ascii=False, separators=(",", ":")),
            ])
        return buffer.getvalue()
    raise UsageError(f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")


@attrs.frozen(kw_only=True)
class RetryReport:
    """What `retry_dead_letters` did. `result` is None when nothing ran (declined, or empty)."""

    job_id: str
    retried: tuple[str, ...]
    result: WorkflowResult | None = None
    declined: bool = False
    recovered: tuple[str, ...] = ()  # retried items that succeeded and left the DLQ
    still_dead_lettered: tuple[str, ...] = ()  # retried items that are in the DLQ again

    @property
    def exit_code(self) -> int:
        """As for run/resume: 0 completed, 1 failed, 3 paused (or declined), 130 interrupted."""
        if self.result is not None:
            return self.result.exit_code
        return EXIT_PAUSED if self.declined else EXIT_COMPLETED


def phases_rerun_after_map(workflow: Workflow, phases: Sequence[PhaseExecutor]) -> list[str]:
    """The phases that run again after a retry's item phase (a reduce without steps: none)."""
    names, items_phase = [phase.name for phase in phases], item_phase(phases)
    if items_phase is None:
        return []
    after = names[names.index(items_phase) + 1:]
    has_reduce_steps = workflow.reduce is not None and bool(workflow.reduce.commands)
    return [name for name in after if name != "reduce" or has_reduce_steps]


async def retry_dead_letters(
    job_id: str,
    item_ids: Sequence[str] | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    environ: Mapping[str, str] | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
) -> RetryReport:
    """Re-run these dead-lettered items (all of them when `item_ids` is None) in their job.

    When phases after the map will run again, the user is told and asked first through
    `services.interaction` (the default, non-interactive, answers yes). The job must have
    ended (completed, failed or paused); `services.options.force` allows a workflow file
    that changed since the job started, as for resume. If the map had not finished, the
    items it had not run yet run too, as a resume would run them.
    """
    environ = os.environ if environ is None else environ
    services = services or Services()
    store = services.watch(open_job(job_id, state_dir=state_dir, environ=environ))
    with store.lock():
        chosen = find_entries(store, item_ids) if item_ids is not None else store.dlq.load()
        retried = tuple(entry.item_id for entry in chosen)
        if not retried:
            services.interaction.display_info(f"job {job_id} has no dead-lettered items to retry")
            return RetryReport(job_id=job_id, retried=())
        checkpoint, workflow, secrets = load_job(
            store, force=services.options.force, environ=environ
        )
        if checkpoint is None or checkpoint.state not in (fsm.COMPLETED, fsm.FAILED, fsm.PAUSED):
            state = "never started" if checkpoint is None else f"in state {checkpoint.state!r}"
            raise JobStateError(
                f"job {job_id} is {state} (it was interrupted or is starting); "
                f"run `{_job_command(store, 'resume')}` to finish it, then retry"
            )
        phase_list = list(phases) if phases is not None else build_phases(
            workflow, isolated=GitSession.load(store.path) is not None,
            backend=services.backend)
        rerun = phases_rerun_after_map(workflow, phase_list)
        if rerun and not await _confirmed(services, job_id, len(retried), rerun):
            return RetryReport(job_id=job_id, retried=retried, declined=True)
        services = keep_run_options(store, services)
        coordinator = _coordinator(store, services, secrets, phase_list)
        result = await coordinator.retry_items(checkpoint, workflow, retried)
        still = {entry.item_id for entry in store.dlq.load()}
    return RetryReport(
        job_id=job_id, retried=retried, result=result,
        recovered=tuple(item_id for item_id in retried if item_id not in still),
        still_dead_lettered=tuple(item_id for item_id in retried if item_id in still),
    )


async def _confirmed(services: Services, job_id: str, count: int, rerun: list[str]) -> bool:
    names = ", ".join(rerun)
    services.interaction.display_info(
        f"after retrying, {names} will run again in job {job_id} so that it sees the new results"
    )
    items = "1 dead-lettered item" if count == 1 else f"{count} dead-lettered items"
    return await services.interaction.ask_yes_no(
        f"Retry {items}, then re-run {names}?", default=True
    )


def retry(
    job_id: str,
    item_ids: Sequence[str] | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    environ: Mapping[str, str] | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
) -> RetryReport:
    """`retry_dead_letters` for code that is not async."""
    return asyncio.run(retry_dead_letters(job_id, item_ids, state_dir=state_dir,
                                          services=services, environ=environ, phases=phases))
