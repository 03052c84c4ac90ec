"""The DLQ API: grouping, export formats, purge, and retry inside the same job."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import attrs
import pytest

from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.convert import converter
from mapreduce_fsm.errors import JobLockedError, JobStateError, UsageError
from mapreduce_fsm.jobs import dlq
from mapreduce_fsm.jobs.run import Services, resume_job, run_workflow
from mapreduce_fsm.state import JobStore
from mapreduce_fsm.state.records import AttemptRecord, DlqEntry

# Each item fails (exit 3) until a file named ok-<item> exists; reduce appends a line.
WORKFLOW = """\
name: dlq-test
map:
  input: items.json
  agent_template:
    - shell: "test -e ok-${item} || { echo no marker for ${item} >&2; exit 3; }"
      name: check
reduce:
  - shell: "echo reduced >> reduce.log"
error_policy:
  on_item_failure: dlq
"""
RETRYING = WORKFLOW.replace(
    "  on_item_failure: dlq\n",
    "  on_item_failure: retry\n"
    "  retry_config: {max_attempts: 2, backoff: {fixed: {delay: 0.01}}}\n",
)
NO_REDUCE = WORKFLOW.split("reduce:")[0] + "error_policy:\n  on_item_failure: dlq\n"


def attempt(item_id: str, number: int, error: str, *, exit_code: int | None = 1) -> AttemptRecord:
    return AttemptRecord(item_id=item_id, attempt=number, status="failed", error=error,
                         exit_code=exit_code,
                         failed_step="check", stderr_tail="boom\n",
                         at=f"2025-01-01T00:00:0{number}Z")


def entry(item_id: str, signature: str, *errors: str, index: int = 0) -> DlqEntry:
    return DlqEntry(
        item_id=item_id, item_index=index, item={"name": item_id, "n": index},
        attempts=tuple(attempt(item_id, n, error) for n, error in enumerate(errors, start=1)),
        signature=signature, added_at=f"2025-01-02T00:00:0{index}Z",
    )


def test_groups_by_signature_largest_first_with_the_newest_error() -> None:
    entries = [
        entry("a", "sig-x", "x on a", index=0),
        entry("b", "sig-y", "y on b", index=1),
        entry("c", "sig-x", "first", "x on c", index=2),
    ]
    groups = dlq.group_by_signature(entries)
    assert [(g.signature, g.item_ids, g.count, g.last_error) for g in groups] == [
        ("sig-x", ("a", "c"), 2, "x on c"),
        ("sig-y", ("b",), 1, "y on b"),
    ]


def test_entry_summary_counts_attempts_and_names_the_last_error() -> None:
    summary = dlq.entry_summary(entry("a", "sig", "one", "two", index=3))
    assert summary == {"item_id": "a", "item_index": 3, "signature": "sig", "attempts": 2,
                       "last_error": "two", "added_at": "2025-01-02T00:00:03Z"}


def test_json_export_is_an_array_of_full_entries() -> None:
    entries = [entry("a", "sig", "one", index=0), entry("b", "sig", "two", "three", index=1)]
    data = json.loads(dlq.export_entries(entries, "json"))
    assert [converter.structure(item, DlqEntry) for item in data] == entries


def test_csv_export_has_one_row_per_entry_with_the_last_attempt() -> None:
    entries = [entry("a,1", "sig \"q\"", "one", "multi\nline", index=4),
               attrs.evolve(entry("b", "sig", index=5), attempts=())]
    rows = list(csv.DictReader(io.StringIO(dlq.export_entries(entries, "csv"))))
    assert list(rows[0]) == list(dlq.CSV_COLUMNS)
    assert rows[0] == {
        "item_id": "a,1", "item_index": "4", "signature": "sig \"q\"", "attempts": "2",
        "last_error": "multi\nline", "last_exit_code": "1", "failed_step": "check",
        "added_at": "2025-01-02T00:00:04Z", "item_json": '{"name":"a,1","n":4}',
    }
    assert (rows[1]["attempts"], rows[1]["last_error"], rows[1]["last_exit_code"]) == ("0", "", "")


def test_an_unknown_export_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown export format 'xml'.*json, csv"):
        dlq.export_entries([], "xml")


def store_with(tmp_path: Path, *entries: DlqEntry) -> JobStore:
    store = JobStore.create(tmp_path / "state", "job-1", WORKFLOW)
    for one in entries:
        store.dlq.add(one)
    return store


def test_an_unknown_item_names_the_items_that_are_there(tmp_path: Path) -> None:
    store = store_with(tmp_path, entry("item-10", "s"), entry("zebra", "s"))
    with pytest.raises(UsageError) as raised:
        dlq.find_entries(store, ["item-1O"])
    message = str(raised.value)
    assert "no dead-letter entry for 'item-1O'" in message
    assert "did you mean item-10?" in message
    assert "the 2 dead-lettered items are: item-10, zebra" in message


def test_an_unknown_item_beside_one_entry_is_said_in_the_singular(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        dlq.find_entries(store_with(tmp_path, entry("only", "s")), ["x"])
    assert "(the 1 dead-lettered item is: only; see " in str(raised.value)


def test_an_empty_dlq_says_so_for_an_unknown_item(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="its dead-letter queue is empty"):
        dlq.find_entries(store_with(tmp_path), ["x"])


def test_purge_removes_the_given_items_or_all(tmp_path: Path) -> None:
    store = store_with(tmp_path, entry("a", "s"), entry("b", "s"), entry("c", "s"))
    assert dlq.purge(store, ["b"]) == 1
    assert [e.item_id for e in store.dlq.load()] == ["a", "c"]
    with pytest.raises(UsageError, match="'zz'"):
        dlq.purge(store, ["a", "zz"])
    assert [e.item_id for e in store.dlq.load()] == ["a", "c"]  # nothing removed
    assert dlq.purge(store) == 2
    assert store.dlq.load() == []


def test_purge_refuses_while_the_job_runs(tmp_path: Path) -> None:
    store = store_with(tmp_path, entry("a", "s"))
    with store.lock(), pytest.raises(JobLockedError):
        dlq.purge(JobStore.open(tmp_path / "state", "job-1"))
    assert len(store.dlq.load()) == 1


# Retry, through the API, with real shell steps.


def start_job(tmp_path: Path, workflow: str = WORKFLOW, items: str = '["a", "b", "c"]') -> str:
    (tmp_path / "wf.yml").write_text(workflow, encoding="utf-8")
    (tmp_path / "items.json").write_text(items, encoding="utf-8")
    (tmp_path / "ok-a").touch()
    result = asyncio.run(run_workflow(tmp_path / "wf.yml", job_id="job-1",
                                      state_dir=tmp_path / "state", working_dir=tmp_path,
                                      environ={}))
    assert result.state == "completed"
    return result.job_id


def retry(tmp_path: Path, item_ids: list[str] | None = None,
          interaction: ScriptedInteraction | None = None) -> dlq.RetryReport:
    services = Services(interaction=interaction or ScriptedInteraction([True]))
    return asyncio.run(dlq.retry_dead_letters("job-1", item_ids, state_dir=tmp_path / "state",
                                              services=services, environ={}))


def reduce_runs(tmp_path: Path) -> int:
    return len((tmp_path / "reduce.log").read_text(encoding="utf-8").splitlines())


def job(tmp_path: Path) -> JobStore:
    return JobStore.open(tmp_path / "state", "job-1")


def test_a_fixed_item_succeeds_leaves_the_dlq_and_reduce_runs_again(tmp_path: Path) -> None:
    start_job(tmp_path)
    store = job(tmp_path)
    assert [e.item_id for e in store.dlq.load()] == ["item-1", "item-2"]
    assert reduce_runs(tmp_path) == 1
    (tmp_path / "ok-b").touch()
    interaction = ScriptedInteraction([True, True])  # retry? then: reduce over partial results?
    report = retry(tmp_path, ["item-1"], interaction)
    assert report.result is not None and report.result.state == "completed"
    assert (report.retried, report.recovered, report.still_dead_lettered) == (
        ("item-1",), ("item-1",), ())
    assert report.exit_code == 4  # item-2 is still dead-lettered
    assert report.result.items_failed == 1
    assert interaction.prompts[0] == "Retry 1 dead-lettered item, then re-run reduce?"
    assert [e.item_id for e in store.dlq.load()] == ["item-2"]
    results = store.results.load().results
    assert {item: r.status for item, r in results.items()} == {
        "item-0": "success", "item-1": "success", "item-2": "failed"}
    assert results["item-1"].attempts == 1
    assert reduce_runs(tmp_path) == 2
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None
    moves = [(h.trigger, h.source, h.dest) for h in checkpoint.history]
    assert ("retry_items", "completed", "map") in moves
    assert moves[-1] == ("continue_", "reduce", "completed")
    assert checkpoint.phases["reduce"].status == "completed"


def test_an_item_that_fails_again_stays_with_both_attempts_in_its_history(
    tmp_path: Path,
) -> None:
    start_job(tmp_path)
    before = job(tmp_path).dlq.get("item-2")
    assert before is not None and len(before.attempts) == 1
    report = retry(tmp_path, ["item-2"], ScriptedInteraction([True, True]))
    assert report.still_dead_lettered == ("item-2",) and report.recovered == ()
    after = job(tmp_path).dlq.get("item-2")
    assert after is not None
    assert [a.attempt for a in after.attempts] == [1, 2]
    assert after.attempts[0] == before.attempts[0]
    assert after.attempts[1].error is not None and "no marker for c" in after.attempts[1].error
    assert after.added_at > before.added_at
    assert [e.item_id for e in job(tmp_path).dlq.load()] == ["item-1", "item-2"]


def test_a_retried_item_gets_a_fresh_round_of_attempts(tmp_path: Path) -> None:
    start_job(tmp_path, RETRYING, '["a", "b"]')
    first = job(tmp_path).dlq.get("item-1")
    assert first is not None and [a.attempt for a in first.attempts] == [1, 2]
    report = retry(tmp_path, interaction=ScriptedInteraction([True, True]))
    assert report.still_dead_lettered == ("item-1",)
    again = job(tmp_path).dlq.get("item-1")
    assert again is not None and [a.attempt for a in again.attempts] == [1, 2, 3, 4]
    assert job(tmp_path).results.load().results["item-1"].attempts == 2  # both of this round
    (tmp_path / "ok-b").touch()
    assert retry(tmp_path, interaction=ScriptedInteraction([True])).recovered == ("item-1",)
    assert job(tmp_path).dlq.load() == []


def test_declining_changes_nothing(tmp_path: Path) -> None:
    start_job(tmp_path)
    store = job(tmp_path)
    results_before = store.results.load().results
    checkpoint_before = store.load_checkpoint()
    report = retry(tmp_path, interaction=ScriptedInteraction([False]))
    assert report.declined and report.result is None and report.exit_code == 3
    assert store.results.load().results == results_before
    assert store.load_checkpoint() == checkpoint_before
    assert len(store.dlq.load()) == 2


def test_without_phases_after_the_map_nothing_is_asked(tmp_path: Path) -> None:
    start_job(tmp_path, NO_REDUCE)
    (tmp_path / "ok-c").touch()
    report = retry(tmp_path, ["item-2"], ScriptedInteraction([]))  # any prompt would raise
    assert report.recovered == ("item-2",)
    assert report.result is not None and report.result.state == "completed"


def test_retry_refuses_unknown_items_and_interrupted_jobs(tmp_path: Path) -> None:
    start_job(tmp_path)
    with pytest.raises(UsageError, match="no dead-letter entry for 'nope'"):
        retry(tmp_path, ["nope"])
    store = job(tmp_path)
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None
    store.save_checkpoint(attrs.evolve(checkpoint, state="map"))
    with pytest.raises(JobStateError, match=r"in state 'map'.*mapreduce-fsm resume job-1"):
        retry(tmp_path)
    assert len(store.dlq.load()) == 2


def test_an_empty_dlq_has_nothing_to_retry(tmp_path: Path) -> None:
    start_job(tmp_path, items='["a"]')
    report = retry(tmp_path, interaction=ScriptedInteraction([]))
    assert (report.retried, report.result, report.exit_code) == ((), None, 0)


def test_a_stale_entry_of_an_item_that_succeeded_is_dropped_by_the_next_map(
    tmp_path: Path,
) -> None:
    start_job(tmp_path)
    store = job(tmp_path)
    store.dlq.add(entry("item-0", "left behind by a crash"))  # item-0 succeeded
    (tmp_path / "ok-b").touch()
    retry(tmp_path, ["item-1"], ScriptedInteraction([True, True]))
    assert [e.item_id for e in store.dlq.load()] == ["item-2"]


def test_a_retry_refused_because_the_input_changed_leaves_the_job_as_it_was(
    tmp_path: Path,
) -> None:
    start_job(tmp_path)
    store = job(tmp_path)
    checkpoint, results = store.load_checkpoint(), store.results.load().results
    (tmp_path / "items.json").write_text('["a", "b", "c", "d"]', encoding="utf-8")
    with pytest.raises(JobStateError, match="input items changed"):
        retry(tmp_path, ["item-1"], ScriptedInteraction([True, True]))
    assert store.load_checkpoint() == checkpoint
    assert store.results.load().results == results  # the retried item's result is back
    assert [e.item_id for e in store.dlq.load()] == ["item-1", "item-2"]


def test_retry_and_resume_tell_event_subscribers_from_their_first_event(tmp_path: Path) -> None:
    start_job(tmp_path)
    (tmp_path / "ok-b").touch()
    seen: list[str] = []
    services = Services(interaction=ScriptedInteraction([True, False]),  # retry? yes; reduce? no
                        event_subscribers=[lambda event: seen.append(event.type)])
    asyncio.run(dlq.retry_dead_letters("job-1", ["item-1"], state_dir=tmp_path / "state",
                                       services=services, environ={}))
    assert seen[0] == "job.retrying_items" and seen[-1] == "job.paused"
    assert "item.left_dlq" in seen
    seen.clear()
    services = attrs.evolve(services, interaction=ScriptedInteraction([True]))
    resumed = asyncio.run(resume_job("job-1", state_dir=tmp_path / "state", services=services,
                                     environ={}))
    assert resumed.state == "completed"
    assert seen[0] == "job.resumed" and seen[-1] == "job.completed"
