"""The results and attempt journals: append, last wins, torn tails, corruption, durability."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.convert import from_json, to_json
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state import AttemptJournal, ResultsJournal, jsonlines
from mapreduce_fsm.state.journal import _id_and_status, _plain_result, _simple_statuses
from mapreduce_fsm.state.records import AttemptRecord, ItemResult, ItemStatus

from .strategies import item_results


def result(item_id: str, status: ItemStatus = "success", index: int = 0) -> ItemResult:
    return ItemResult(item_id=item_id, item_index=index, item={"id": item_id}, status=status)


def expected_final(results: list[ItemResult]) -> dict[str, ItemResult]:
    final: dict[str, ItemResult] = {}
    for each in results:
        final[each.item_id] = each
    return final


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    loaded = ResultsJournal(tmp_path / "results.jsonl").load()
    assert (dict(loaded.results), loaded.warnings, loaded.lines) == ({}, (), 0)
    assert AttemptJournal(tmp_path / "attempts.jsonl").load() == {}


def test_appended_results_load_back_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    written = [result(f"item-{i}", index=i) for i in range(5)]
    for each in written:
        journal.append(each)
    journal.close()
    assert len(path.read_bytes().splitlines()) == 5
    loaded = ResultsJournal(path).load()
    assert dict(loaded.results) == {each.item_id: each for each in written}
    assert loaded.lines == 5 and loaded.warnings == ()


def test_lines_reach_the_file_before_close(tmp_path: Path) -> None:
    journal = ResultsJournal(tmp_path / "results.jsonl")
    journal.append(result("a"))
    assert dict(ResultsJournal(tmp_path / "results.jsonl").load().results) == {"a": result("a")}
    journal.close()


def test_last_line_for_an_item_wins(tmp_path: Path) -> None:
    journal = ResultsJournal(tmp_path / "results.jsonl")
    journal.append(result("a", "failed"))
    journal.append(result("b"))
    journal.append(result("a", "success"))
    journal.close()
    loaded = journal.load()
    assert loaded.results["a"].status == "success"
    assert loaded.lines == 3 and len(loaded.results) == 2


def test_append_does_not_read_or_rewrite_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    journal.append(result("first"))
    inode = path.stat().st_ino

    def no_scan(self: object) -> None:
        raise AssertionError("append re-read the journal")

    monkeypatch.setattr(jsonlines.JsonLinesFile, "scan", no_scan)
    monkeypatch.setattr(jsonlines, "_last_line", no_scan)
    for i in range(50):
        journal.append(result(f"item-{i}"))
    journal.close()
    assert path.stat().st_ino == inode
    monkeypatch.undo()
    assert len(journal.load().results) == 51


def test_fsync_is_batched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    journal = ResultsJournal(tmp_path / "results.jsonl")
    for i in range(200):
        journal.append(result(f"item-{i}"))
    assert len(synced) <= 2  # 200 appends within well under a second
    journal.close()
    assert len(synced) >= 1


def test_torn_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    journal.append(result("a"))
    journal.append(result("b"))
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])
    loaded = ResultsJournal(path).load()
    assert list(loaded.results) == ["a"]
    assert loaded.lines == 1
    assert len(loaded.warnings) == 1 and f"{path}:2" in loaded.warnings[0]


def test_unparseable_last_line_with_newline_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    ResultsJournal(path).append(result("a"))
    with path.open("ab") as file:
        file.write(b"\x00\x00\x00\n")
    loaded = ResultsJournal(path).load()
    assert list(loaded.results) == ["a"] and len(loaded.warnings) == 1


def test_a_whole_last_line_that_is_not_a_result_is_corruption_not_a_tear(
    tmp_path: Path
) -> None:
    path = tmp_path / "results.jsonl"
    ResultsJournal(path).append(result("a"))
    with path.open("ab") as file:
        file.write(b'{"not": "a result"}\n')  # a crash cannot write this: someone did
    with pytest.raises(JobStateError, match=r"results.jsonl:2: corrupt"):
        ResultsJournal(path).load()
    with pytest.raises(JobStateError, match=r"results.jsonl, last line: corrupt"):
        ResultsJournal(path).append(result("b"))
    assert path.read_bytes().endswith(b'{"not": "a result"}\n')  # nothing was cut off


def test_appending_after_a_torn_line_cuts_it_off_first(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    first = ResultsJournal(path)
    first.append(result("a"))
    first.close()
    with path.open("ab") as file:
        file.write(b'{"item_id": "b", "item_ind')
    second = ResultsJournal(path)
    second.append(result("c"))
    second.close()
    loaded = second.load()
    assert list(loaded.results) == ["a", "c"] and loaded.warnings == ()


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [(b"{not json\n", "not JSON"), (b'{"item_id": 1}\n', r"\$\.item_id")],
)
def test_corruption_in_the_middle_names_file_and_line(
    tmp_path: Path, bad_line: bytes, reason: str
) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    journal.append(result("a"))
    journal.close()
    with path.open("ab") as file:  # line 2 is bad, a whole line follows it
        file.write(bad_line + path.read_bytes())
    with pytest.raises(JobStateError, match=f"{path}:2: corrupt item result line.*{reason}"):
        journal.load()


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    journal.append(result("a"))
    with path.open("ab") as file:
        file.write(b"\n  \n")
    journal.append(result("b"))
    journal.close()
    assert list(journal.load().results) == ["a", "b"]


def test_rewrite_compacts_atomically_and_appends_continue(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    for status in ("failed", "timeout", "success"):
        journal.append(result("a", status))
    journal.rewrite(journal.load().results.values())
    journal.append(result("b"))
    journal.close()
    loaded = journal.load()
    assert loaded.lines == 2 and loaded.results["a"].status == "success" and "b" in loaded.results


@given(
    st.lists(item_results(), min_size=1, max_size=8),
    st.data(),
)
def test_any_truncation_loads_exactly_the_complete_lines(
    results: list[ItemResult], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "results.jsonl"
        journal = ResultsJournal(path)
        for each in results:
            journal.append(each)
        journal.close()
        content = path.read_bytes()
        ends = [i + 1 for i, byte in enumerate(content) if byte == ord("\n")]
        cut = data.draw(st.integers(min_value=0, max_value=len(content)), label="cut")
        path.write_bytes(content[:cut])
        complete = sum(1 for end in ends if end <= cut)

        loaded = ResultsJournal(path).load()
        assert dict(loaded.results) == expected_final(results[:complete])
        assert loaded.lines == complete
        assert len(loaded.warnings) == (0 if cut in [0, *ends] else 1)

        journal = ResultsJournal(path)  # a resumed run appends after the cut
        journal.append(results[0])
        journal.close()
        assert dict(journal.load().results) == expected_final([*results[:complete], results[0]])


def attempt(item_id: str, number: int, retry_at: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        item_id=item_id, attempt=number, status="failed", error="boom", exit_code=1,
        failed_step="step 1", stderr_tail="boom\n", at=f"t{number}", retry_at=retry_at,
    )


def test_attempts_load_grouped_by_item_in_order(tmp_path: Path) -> None:
    journal = AttemptJournal(tmp_path / "attempts.jsonl")
    journal.append(attempt("a", 1, retry_at="later"))
    journal.append(attempt("b", 1))
    journal.append(attempt("a", 2))
    journal.close()
    assert AttemptJournal(tmp_path / "attempts.jsonl").load() == {
        "a": [attempt("a", 1, retry_at="later"), attempt("a", 2)],
        "b": [attempt("b", 1)],
    }


def test_attempts_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "attempts.jsonl"
    journal = AttemptJournal(path)
    journal.append(attempt("a", 1))
    journal.append(attempt("a", 2))
    journal.close()
    path.write_bytes(path.read_bytes()[:-3])
    assert AttemptJournal(path).load() == {"a": [attempt("a", 1)]}


def test_durable_count_is_the_items_with_a_result_on_disk_at_the_last_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonlines, "FSYNC_INTERVAL_SECS", 3600.0)  # syncs only when asked
    journal = ResultsJournal(tmp_path / "results.jsonl")
    journal.append(result("before-load"))
    assert journal.durable_count is None  # not loaded here: unknown
    journal.sync()
    journal.load()
    assert journal.durable_count == 1
    journal.append(result("a"))
    journal.append(result("a", "failed"))  # the same item again counts once
    assert journal.durable_count == 1  # not synced yet
    journal.sync()
    assert journal.durable_count == 2
    journal.rewrite([result("a")])
    assert journal.durable_count == 1


tricky_ids = st.text(min_size=1, max_size=8) | st.sampled_from(
    ['a"b', "a\\b", "é", 'x","status":"failed'])


def final_counts(journal: ResultsJournal) -> dict[str, int]:
    return dict(Counter(result.status for result in journal.load().results.values()))


@given(st.lists(st.builds(lambda r, i: attrs.evolve(r, item_id=i), item_results(), tricky_ids),
                max_size=8))
def test_counts_read_only_ids_and_statuses_yet_agree_with_the_whole_load(
    written: list[ItemResult],
) -> None:
    # Items and captures may themselves hold a "status" key; ids may hold quotes.
    with tempfile.TemporaryDirectory() as scratch:
        journal = ResultsJournal(Path(scratch) / "results.jsonl")
        for each in written:
            journal.append(each)
        journal.close()
        assert not journal.counts_path.exists()  # appended unloaded: no counts kept
        counted = journal.counts()
        assert (dict(counted.statuses), counted.items) == (
            final_counts(journal), len(journal.load().results))
    for each in written:  # and without parsing any line whole
        assert _id_and_status((to_json(each) + "\n").encode()) == (each.item_id, each.status)


def test_counts_kept_by_the_writer_spare_readers_the_lines_they_cover(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultsJournal(path)
    writer.load()
    for i, status in enumerate(["success", "failed", "success"]):
        writer.append(result(f"i{i}", status, index=i))  # type: ignore[arg-type]
    writer.close()
    covered = path.read_bytes()
    path.write_bytes(b"x" * (len(covered) - 1) + b"\n")  # same file, same size: unreadable
    with pytest.raises(JobStateError):
        ResultsJournal(path).load()
    assert dict(ResultsJournal(path).counts().statuses) == {"success": 2, "failed": 1}
    path.write_bytes(covered)
    with path.open("ab") as file:  # a line after the kept counts is read
        file.write((to_json(result("i3", "skipped", index=3)) + "\n").encode())
    counted = ResultsJournal(path).counts()
    assert (dict(counted.statuses), counted.items) == (
        {"success": 2, "failed": 1, "skipped": 1}, 4)


def test_a_rewritten_journal_keeps_its_own_counts_and_ignores_stale_ones(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultsJournal(path)
    writer.load()
    writer.append(result("a", "failed"))
    writer.append(result("b", "success", index=1))
    writer.close()
    stale = writer.counts_path.read_bytes()
    writer.rewrite([result("b", "success", index=1)])  # `dlq retry` takes a result away
    assert dict(ResultsJournal(path).counts().statuses) == {"success": 1}
    writer.counts_path.write_bytes(stale)  # counts of another file (inode) than this one
    assert dict(ResultsJournal(path).counts().statuses) == {"success": 1}
    writer.counts_path.write_text('{"bytes": "many"}')
    assert ResultsJournal(path).counts().items == 1


def test_saving_the_counts_costs_no_fsync_and_an_empty_counts_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The counts are a cache, saved at every sync of the journal: two fsyncs each time were
    # a good part of a resume's start. After a power loss the file may be empty.
    path = tmp_path / "results.jsonl"
    writer = ResultsJournal(path)
    writer.load()
    writer.append(result("a", "failed"))
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    writer.sync()  # the journal's own fsync, then the counts
    assert len(synced) == 1
    assert json.loads(writer.counts_path.read_text())["statuses"] == {"failed": 1}
    writer.close()
    writer.counts_path.write_bytes(b"")
    assert dict(ResultsJournal(path).counts().statuses) == {"failed": 1}


def test_counts_drop_a_torn_last_line_with_a_warning_and_refuse_a_corrupt_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    journal.append(result("a", "failed"))
    journal.close()
    with path.open("ab") as file:
        file.write(b'{"item_id":"b","item_index":1,"item":{"status":"suc')
    loaded = journal.counts()
    assert dict(loaded.statuses) == {"failed": 1}
    assert len(loaded.warnings) == 1 and "results.jsonl:2: dropped a torn last line" in (
        loaded.warnings[0])
    with path.open("ab") as file:
        file.write(b'\n{"item_id":"c"}\n')
    with pytest.raises(JobStateError, match="corrupt item result line"):
        journal.counts()


@given(item_results())
def test_a_result_line_the_engine_writes_loads_without_the_converter_and_the_same(
    written: ItemResult,
) -> None:
    line = (to_json(written) + "\n").encode()
    assert _plain_result(line) == written == from_json(line, ItemResult)


@pytest.mark.parametrize("change", [
    {"item_index": "3"}, {"item_index": True}, {"status": "done"}, {"duration_secs": 1},
    {"captures": []}, {"error": 5}, {"extra": 1},
])
def test_any_other_line_goes_to_the_strict_converter(change: dict[str, object]) -> None:
    data = {**json.loads(to_json(result("a"))), **change}
    assert _plain_result((json.dumps(data) + "\n").encode()) is None


@given(st.lists(st.builds(lambda r, i: attrs.evolve(r, item_id=i), item_results(), tricky_ids),
                max_size=8))
def test_statuses_a_resume_reads_agree_with_the_whole_load(written: list[ItemResult]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        journal = ResultsJournal(Path(scratch) / "results.jsonl")
        for each in written:
            journal.append(each)
        journal.close()
        expected = {item_id: r.status for item_id, r in journal.load().results.items()}
        assert ResultsJournal(journal.path).statuses() == expected


def test_a_journal_of_plain_items_is_read_a_megabyte_at_a_time_and_others_line_by_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.jsonl"
    journal = ResultsJournal(path)
    for index, item in enumerate([3, "x", None, -1.5e3, True]):
        journal.append(attrs.evolve(result(f"i{index}", "failed", index), item=item))
    journal.append(attrs.evolve(result("i0", "success"), item=0))  # the last line wins
    journal.close()
    assert _simple_statuses(path) == (
        {"i0": "success", "i1": "failed", "i2": "failed", "i3": "failed", "i4": "failed"}, 6)
    with path.open("ab") as file:  # an item whose text looks like the fields after it
        file.write((to_json(attrs.evolve(result("i5", "failed", 5), item={
            "k": "}", "status": "success"})) + "\n").encode())
    assert _simple_statuses(path) is None
    assert ResultsJournal(path).statuses()["i5"] == "failed"
    with path.open("ab") as file:
        file.write(b'{"item_id":"i6","item_index":6,"item":6,"status":"succ')
    assert _simple_statuses(path) is None
    assert "i6" not in ResultsJournal(path).statuses()  # torn: dropped, as before
