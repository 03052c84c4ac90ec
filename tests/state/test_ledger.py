"""The map's ledger: results, attempts and the DLQ behind one object, and their orderings."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import attrs

from mapreduce_fsm.state import AttemptJournal, DeadLetterStore, JobStore, MapLedger, ResultsJournal
from mapreduce_fsm.state.records import AttemptRecord, DlqEntry, ItemResult, ItemStatus


def new_store(tmp_path: Path) -> JobStore:
    return JobStore.create(tmp_path / "state", "job-1", "name: t\n")


def result(item_id: str, status: ItemStatus, attempts: int = 1) -> ItemResult:
    return ItemResult(item_id=item_id, item_index=int(item_id[1:]), item={"id": item_id},
                      status=status, attempts=attempts,
                      error=None if status == "success" else "step 'w' exited with code 1",
                      failed_step=None if status == "success" else "w", exit_code=1)


def attempt(item_id: str, number: int, at: str, retry_at: str | None = None) -> AttemptRecord:
    return AttemptRecord(item_id=item_id, attempt=number, status="failed", error="boom",
                         exit_code=1, failed_step="w", stderr_tail="boom\n", at=at,
                         retry_at=retry_at)


def entry(item_id: str, added_at: str, *attempts: AttemptRecord) -> DlqEntry:
    return DlqEntry(item_id=item_id, item_index=int(item_id[1:]), item={"id": item_id},
                    attempts=attempts, signature="sig", added_at=added_at)


def test_loading_drops_dead_letters_of_items_that_succeeded(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.dlq.add(entry("i1", "2026-01-01T00:00:00.000Z", attempt("i1", 1, "a")))
    store.dlq.add(entry("i2", "2026-01-01T00:00:00.000Z", attempt("i2", 1, "a")))
    store.results.append(result("i1", "success"))  # a crash came before the entry went
    store.results.append(result("i3", "failed"))
    ledger = MapLedger.load(store)
    assert set(ledger.finished) == {"i1", "i3"}
    assert set(ledger.dead_letters) == {"i2"}
    assert [e.item_id for e in DeadLetterStore(store.dlq.path).load()] == ["i2"]


def test_a_dead_lettered_items_round_is_the_attempts_after_its_entry(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    old = [attempt("i1", 1, "2026-01-01T00:00:01.000Z"),
           attempt("i1", 2, "2026-01-01T00:00:02.000Z")]
    for record in old:
        store.attempts.append(record)
    store.dlq.add(entry("i1", "2026-01-01T00:00:03.000Z", *old))
    new = attempt("i1", 1, "2026-01-01T00:00:04.000Z", retry_at="2026-01-01T00:00:09.000Z")
    store.attempts.append(new)
    store.attempts.append(attempt("i2", 1, "2026-01-01T00:00:05.000Z"))
    ledger = MapLedger.load(store)
    assert ledger.attempts_of("i1") == [new]
    assert [a.attempt for a in ledger.attempts_of("i2")] == [1]
    assert ledger.attempts_of("i3") == []


def test_a_recorded_attempt_is_in_the_journal_and_the_items_round(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ledger = MapLedger.load(store)
    record = attempt("i1", 1, "2026-01-01T00:00:01.000Z", retry_at="2026-01-01T00:00:02.000Z")
    ledger.record_attempt(record)
    store.attempts.sync()
    assert ledger.attempts_of("i1") == [record]
    assert AttemptJournal(store.attempts.path).load() == {"i1": [record]}


def test_a_dead_letter_keeps_its_rounds_history_numbered_on(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    earlier = entry("i1", "2026-01-01T00:00:03.000Z",
                    attempt("i1", 1, "2026-01-01T00:00:01.000Z"),
                    attempt("i1", 2, "2026-01-01T00:00:02.000Z"))
    store.dlq.add(earlier)
    ledger = MapLedger.load(store)
    ledger.record_attempt(attempt("i1", 1, "2026-01-01T00:00:04.000Z"))
    recorded = ledger.record_result(result("i1", "failed"), dead_letter_signature="sig-2")
    assert recorded.dead_letter is not None and not recorded.left_dlq
    (stored,) = DeadLetterStore(store.dlq.path).load()
    assert stored == recorded.dead_letter
    assert [(a.attempt, a.at) for a in stored.attempts] == [
        (1, "2026-01-01T00:00:01.000Z"), (2, "2026-01-01T00:00:02.000Z"),
        (3, "2026-01-01T00:00:04.000Z")]
    assert stored.signature == "sig-2" and stored.added_at > earlier.added_at
    assert ledger.counts == {"success": 0, "failed": 1, "skipped": 0, "dead_lettered": 1}


@attrs.define
class Journaled(ResultsJournal):
    """A results journal that notes each append and sync in a shared log."""

    log: list[str] = attrs.field(kw_only=True)
    dlq_path: Path = attrs.field(kw_only=True)

    def append(self, record: ItemResult) -> None:
        on_file = {e.item_id for e in DeadLetterStore(self.dlq_path).load()}
        self.log.append(f"append {record.item_id} {record.status} dlq={sorted(on_file)}")
        super().append(record)

    def sync(self) -> None:
        self.log.append("sync")
        super().sync()


@attrs.define
class NotedDlq(DeadLetterStore):
    """A DLQ that notes each removal in the shared log."""

    log: list[str] = attrs.field(kw_only=True)

    def remove(self, item_ids: Collection[str]) -> int:
        self.log.append(f"remove {sorted(item_ids)}")
        return super().remove(item_ids)


def noted_ledger(store: JobStore, log: list[str]) -> MapLedger:
    loaded = MapLedger.load(store)
    return attrs.evolve(
        loaded,
        results=Journaled(store.results.path, log=log, dlq_path=store.dlq.path),
        dlq=NotedDlq(store.dlq.path, log=log),
    )


def test_the_dlq_entry_is_on_file_before_the_failed_result(tmp_path: Path) -> None:
    store, log = new_store(tmp_path), list[str]()
    ledger = noted_ledger(store, log)
    ledger.record_result(result("i1", "failed"), dead_letter_signature="sig")
    assert log == ["append i1 failed dlq=['i1']"]


def test_a_success_is_synced_before_the_items_entry_leaves_the_dlq(tmp_path: Path) -> None:
    store, log = new_store(tmp_path), list[str]()
    store.dlq.add(entry("i1", "2026-01-01T00:00:03.000Z", attempt("i1", 1, "x")))
    ledger = noted_ledger(store, log)
    recorded = ledger.record_result(result("i1", "success"), dead_letter_signature=None)
    assert recorded.left_dlq and recorded.dead_letter is None
    assert log == ["append i1 success dlq=['i1']", "sync", "remove ['i1']"]
    assert DeadLetterStore(store.dlq.path).load() == []
    assert ledger.finished["i1"] == "success" and "i1" not in ledger.dead_letters


def test_results_without_a_signature_stay_out_of_the_dlq_and_are_counted(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ledger = MapLedger.load(store)
    ends: list[tuple[str, ItemStatus]] = [("i1", "success"), ("i2", "skipped"), ("i3", "timeout")]
    for item_id, status in ends:
        recorded = ledger.record_result(result(item_id, status), dead_letter_signature=None)
        assert recorded.dead_letter is None and not recorded.left_dlq
    ledger.sync()
    assert DeadLetterStore(store.dlq.path).load() == []
    assert set(ResultsJournal(store.results.path).load().results) == {"i1", "i2", "i3"}
    assert ledger.counts == {"success": 1, "failed": 1, "skipped": 1, "dead_lettered": 0}
