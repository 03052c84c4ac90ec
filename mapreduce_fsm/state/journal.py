"""The map's journals: every item's final result, and every finished attempt of an item."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import AttemptRecord, ItemResult


@attrs.frozen(kw_only=True)
class LoadedResults:
    """The results journal as read: one final result per item id (the last line wins)."""

    results: Mapping[str, ItemResult]
    warnings: tuple[str, ...]
    lines: int  # whole result lines read, including ones a later line superseded


@attrs.define
class ResultsJournal:
    """`results.jsonl`: one item result a line, appended the moment an item ends.

    Once loaded (or rewritten) in this process, it knows `durable_count`: how many items
    have a result that has reached the disk (the count at the last fsync).
    """

    path: Path
    _file: JsonLinesFile[ItemResult] = attrs.field(init=False)
    _item_ids: set[str] | None = attrs.field(default=None, init=False)
    _durable_count: int | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, ItemResult, "item result")

    @property
    def durable_count(self) -> int | None:
        """Items with a durable result; None until the journal was loaded in this process."""
        return self._durable_count

    def append(self, result: ItemResult) -> None:
        self._file.append(result)
        if self._item_ids is not None:
            self._item_ids.add(result.item_id)
            if self._file.synced:
                self._durable_count = len(self._item_ids)

    def sync(self) -> None:
        self._file.sync()
        if self._item_ids is not None:
            self._durable_count = len(self._item_ids)

    def close(self) -> None:
        self._file.close()

    def load(self) -> LoadedResults:
        scanned = self._file.scan()
        results = {result.item_id: result for result in scanned.records}
        self._item_ids = set(results)
        self._durable_count = len(results)
        return LoadedResults(
            results=results, warnings=scanned.warnings, lines=len(scanned.records)
        )

    def iter_final(self) -> Iterator[ItemResult]:
        """Each item's final result (its last line), one at a time, in the order of those
        lines. Two passes over the file: the first keeps only ids and line numbers."""
        last_line: dict[str, int] = {}
        for number, line, _ in self._file.lines():
            item_id = _item_id(line)
            if item_id is not None:
                last_line[item_id] = number
        for number, line, _ in self._file.lines():
            item_id = _item_id(line)
            if item_id is not None and last_line.get(item_id) == number:
                yield self._file.parse(line)

    def rewrite(self, results: Iterable[ItemResult]) -> None:
        """Replace the journal atomically with exactly these results (compaction)."""
        kept = list(results)
        self._file.rewrite(kept)
        self._item_ids = {result.item_id for result in kept}
        self._durable_count = len(self._item_ids)


def _item_id(line: bytes) -> str | None:
    """The item id of a whole result line; None for a torn or odd one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    item_id = value.get("item_id") if isinstance(value, dict) else None
    return item_id if isinstance(item_id, str) and line.endswith(b"\n") else None


@attrs.define
class AttemptJournal:
    """`attempts.jsonl`: every finished attempt of every item, in the order they ended."""

    path: Path
    _file: JsonLinesFile[AttemptRecord] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, AttemptRecord, "item attempt")

    def append(self, record: AttemptRecord) -> None:
        self._file.append(record)

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def load(self) -> dict[str, list[AttemptRecord]]:
        """Attempts per item id, oldest first; a torn last line is dropped."""
        attempts: dict[str, list[AttemptRecord]] = {}
        for record in self._file.scan().records:
            attempts.setdefault(record.item_id, []).append(record)
        return attempts
