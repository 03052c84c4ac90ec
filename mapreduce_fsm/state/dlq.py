"""The dead-letter queue: items that ran out of chances, one entry per item."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.convert import converter
from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import DlqEntry


def _register_entry_hooks() -> None:
    """An entry's attempts are written without the item id, which the entry holds once; on
    reading, they get it back. So `dlq.jsonl` lines look as they always did."""
    unstructure: Callable[[DlqEntry], dict[str, Any]] = converter.get_unstructure_hook(DlqEntry)
    structure: Callable[[Any, type], DlqEntry] = converter.get_structure_hook(DlqEntry)

    def entry_to_dict(entry: DlqEntry) -> dict[str, Any]:
        data = unstructure(entry)
        data["attempts"] = [{k: v for k, v in attempt.items() if k != "item_id"}
                            for attempt in data["attempts"]]
        return data

    def entry_from_dict(value: Any, cls: type) -> DlqEntry:
        if isinstance(value, dict) and isinstance(value.get("attempts"), list):
            item_id = value.get("item_id")
            value = {**value, "attempts": [
                {"item_id": item_id, **attempt} if isinstance(attempt, dict) else attempt
                for attempt in value["attempts"]]}
        return structure(value, cls)

    converter.register_unstructure_hook(DlqEntry, entry_to_dict)
    converter.register_structure_hook(DlqEntry, entry_from_dict)


_register_entry_hooks()


@attrs.define
class DeadLetterStore:
    """`dlq.jsonl`: at most one entry per item id; a new entry for an item replaces the old."""

    path: Path
    _file: JsonLinesFile[DlqEntry] = attrs.field(init=False)
    _ids: set[str] | None = attrs.field(default=None, init=False)  # ids on file, once read

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, DlqEntry, "dead-letter entry")

    def add(self, entry: DlqEntry) -> None:
        """Append the entry, or rewrite the file atomically if the item is already in it."""
        ids = self._known_ids()
        if entry.item_id in ids:
            self._file.rewrite(
                entry if existing.item_id == entry.item_id else existing
                for existing in self.load()
            )
        else:
            self._file.append(entry)
            self._file.sync()
            ids.add(entry.item_id)

    def load(self) -> list[DlqEntry]:
        """Every entry in item order (parallel items fail in any order, so the file's order
        would differ from run to run); a torn last line is dropped."""
        entries: dict[str, DlqEntry] = {}
        for entry in self._file.scan().records:
            entries[entry.item_id] = entry
        self._ids = set(entries)
        return sorted(entries.values(), key=lambda entry: entry.item_index)

    def get(self, item_id: str) -> DlqEntry | None:
        return next((entry for entry in self.load() if entry.item_id == item_id), None)

    def remove(self, item_ids: Collection[str]) -> int:
        """Drop the entries of these items (atomic rewrite); returns how many were there."""
        entries = self.load()
        kept = [entry for entry in entries if entry.item_id not in item_ids]
        removed = len(entries) - len(kept)
        if removed:
            self._file.rewrite(kept)
            self._ids = {entry.item_id for entry in kept}
        return removed

    def close(self) -> None:
        self._file.close()

    def _known_ids(self) -> set[str]:
        if self._ids is None:
            self._ids = {entry.item_id for entry in self.load()}
        return self._ids
