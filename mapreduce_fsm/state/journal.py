"""The map's journals: every item's final result, and every finished attempt of an item."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import ItemResult, ItemStatus


@attrs.frozen(kw_only=True)
class LoadedResults:
    """The results journal as read: one final result per item id (the last line wins)."""

    results: Mapping[str, ItemResult]
    warnings: tuple[str, ...]
    lines: int  # whole result lines read, including ones a later line superseded


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

    def rewrite(self, results: Iterable[ItemResult]) -> None:
        """Replace the journal atomically with exactly these results (compaction)."""
        self._file.rewrite(results)


@attrs.frozen(kw_only=True)
class ItemAttempt:
    """One finished attempt at an item, so that retry counts survive a crash."""

    item_id: str
    attempt: int
    status: ItemStatus
    error: str | None
    exit_code: int | None
    failed_step: str | None
    stderr_tail: str
    at: str
    retry_at: str | None = None  # when the next attempt may start; None if none is due


@attrs.define
class AttemptJournal:
    """`attempts.jsonl`: every finished attempt of every item, in the order they ended."""

    path: Path
    _file: JsonLinesFile[ItemAttempt] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, ItemAttempt, "item attempt")

    def append(self, record: ItemAttempt) -> None:
        self._file.append(record)

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def load(self) -> dict[str, list[ItemAttempt]]:
        """Attempts per item id, oldest first; a torn last line is dropped."""
        attempts: dict[str, list[ItemAttempt]] = {}
        for record in self._file.scan().records:
            attempts.setdefault(record.item_id, []).append(record)
        return attempts
