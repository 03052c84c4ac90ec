"""The dead-letter store: one entry per item, add replaces, remove and get."""

from __future__ import annotations

import json
from pathlib import Path

from mapreduce_fsm.state import DeadLetterStore
from mapreduce_fsm.state.records import AttemptRecord, DlqEntry


def entry(item_id: str, attempts: int = 1) -> DlqEntry:
    return DlqEntry(
        item_id=item_id,
        item_index=int(item_id.rsplit("-", 1)[1]),
        item={"id": item_id},
        attempts=tuple(
            AttemptRecord(item_id=item_id, attempt=n, status="failed", error="exit 1", exit_code=1,
                          failed_step="step 1", stderr_tail="oops", at=f"t{n}")
            for n in range(1, attempts + 1)
        ),
        signature="exit 1",
        added_at="2026-01-01T00:00:00.000Z",
    )


def test_missing_file_is_an_empty_queue(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.jsonl")
    assert store.load() == [] and store.get("item-1") is None
    assert store.remove(["item-1"]) == 0
    assert not (tmp_path / "dlq.jsonl").exists()


def test_added_entries_load_in_order_and_survive_reopening(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.jsonl")
    store.add(entry("item-1"))
    store.add(entry("item-2", attempts=3))
    store.close()
    reopened = DeadLetterStore(tmp_path / "dlq.jsonl")
    assert reopened.load() == [entry("item-1"), entry("item-2", attempts=3)]
    assert reopened.get("item-2") == entry("item-2", attempts=3)


def test_adding_an_item_again_replaces_its_entry_in_place(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    store = DeadLetterStore(path)
    for item_id in ("item-1", "item-2", "item-3"):
        store.add(entry(item_id))
    store.add(entry("item-2", attempts=4))
    store.add(entry("item-4"))
    assert [e.item_id for e in store.load()] == ["item-1", "item-2", "item-3", "item-4"]
    assert store.get("item-2") == entry("item-2", attempts=4)
    assert len(path.read_bytes().splitlines()) == 4


def test_replace_is_seen_by_a_second_store_on_the_same_file(tmp_path: Path) -> None:
    first = DeadLetterStore(tmp_path / "dlq.jsonl")
    first.add(entry("item-1"))
    second = DeadLetterStore(tmp_path / "dlq.jsonl")
    second.add(entry("item-1", attempts=2))
    assert first.load() == [entry("item-1", attempts=2)]


def test_remove_returns_how_many_were_there(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.jsonl")
    for item_id in ("item-1", "item-2", "item-3"):
        store.add(entry(item_id))
    assert store.remove({"item-1", "item-3", "item-9"}) == 2
    assert store.load() == [entry("item-2")]
    store.add(entry("item-1"))  # appending after a rewrite goes to the new file
    assert [e.item_id for e in DeadLetterStore(tmp_path / "dlq.jsonl").load()] == [
        "item-1", "item-2",
    ]


def test_entries_load_in_item_order_whatever_order_items_failed_in(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.jsonl")
    for item_id in ("item-7", "item-2", "item-10"):
        store.add(entry(item_id))
    assert [e.item_id for e in store.load()] == ["item-2", "item-7", "item-10"]


def test_torn_last_entry_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    store = DeadLetterStore(path)
    store.add(entry("item-1"))
    store.add(entry("item-2"))
    store.close()
    path.write_bytes(path.read_bytes()[:-10])
    assert DeadLetterStore(path).load() == [entry("item-1")]


def test_attempts_are_written_without_the_item_id_and_old_lines_still_load(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dlq.jsonl"
    store = DeadLetterStore(path)
    store.add(entry("item-1", attempts=2))
    store.close()
    (written,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert written["item_id"] == "item-1"
    assert all("item_id" not in attempt for attempt in written["attempts"])
    # A line as written before attempts had a retry_at: it loads, each attempt gets its id.
    old = {**written, "item_id": "item-2", "item_index": 2, "item": {"id": "item-2"},
           "attempts": [{k: v for k, v in a.items() if k != "retry_at"}
                        for a in written["attempts"]]}
    with path.open("a") as file:
        file.write(json.dumps(old) + "\n")
    loaded = DeadLetterStore(path).get("item-2")
    assert loaded == entry("item-2", attempts=2)
    assert [attempt.item_id for attempt in loaded.attempts] == ["item-2", "item-2"]
