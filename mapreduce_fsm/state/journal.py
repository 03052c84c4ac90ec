"""The map's journals: every item's final result, and every finished attempt of an item."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import AttemptRecord, ItemResult

# How every result line begins, as `to_json` writes it: the id, the index, then the item
# (any JSON), then the status. JSON strings hold no bare quote, so these cannot match
# inside a value.
_ID_AND_INDEX = re.compile(r'\{"item_id":("(?:[^"\\]|\\.)*"),"item_index":-?\d+,"item":')
_STATUS = re.compile(r',"status":"(success|failed|timeout|skipped)",')
_DECODER = json.JSONDecoder()


@attrs.frozen(kw_only=True)
class LoadedResults:
    """The results journal as read: one final result per item id (the last line wins)."""

    results: Mapping[str, ItemResult]
    warnings: tuple[str, ...]
    lines: int  # whole result lines read, including ones a later line superseded


@attrs.frozen(kw_only=True)
class LoadedStatuses:
    """The results journal's final status of each item id (the last line wins)."""

    statuses: Mapping[str, str]
    warnings: tuple[str, ...]


def _id_and_status(line: bytes) -> tuple[str, str] | None:
    """(item id, status) from a result line as `to_json` writes it; None if it is not one."""
    try:
        text = line.decode("utf-8")
        start = _ID_AND_INDEX.match(text)
        if start is None:
            return None
        _, item_end = _DECODER.raw_decode(text, start.end())
    except ValueError:  # not UTF-8, or the item is not JSON
        return None
    status = _STATUS.match(text, item_end)
    if status is None or not text.endswith("}\n"):
        return None
    quoted = start.group(1)
    item_id = json.loads(quoted) if "\\" in quoted else quoted[1:-1]
    return item_id, status.group(1)


def _id_and_status_of(result: ItemResult) -> tuple[str, str]:
    return result.item_id, result.status


@attrs.define
class ResultsJournal:
    """`results.jsonl`: one item result a line, appended the moment an item ends."""

    path: Path
    _file: JsonLinesFile[ItemResult] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, ItemResult, "item result")

    def append(self, result: ItemResult) -> None:
        self._file.append(result)

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def load(self) -> LoadedResults:
        scanned = self._file.scan()
        results = {result.item_id: result for result in scanned.records}
        return LoadedResults(
            results=results, warnings=scanned.warnings, lines=len(scanned.records)
        )

    def statuses(self) -> LoadedStatuses:
        """Each item's final status, by id: what `status` and `jobs` count, read about ten
        times faster than `load()` by reading only those two fields of each line."""
        scanned = self._file.scan_fields(_id_and_status, _id_and_status_of)
        return LoadedStatuses(statuses=dict(scanned.records), warnings=scanned.warnings)

    def rewrite(self, results: Iterable[ItemResult]) -> None:
        """Replace the journal atomically with exactly these results (compaction)."""
        self._file.rewrite(results)


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
