"""`error_collection`: when the map reports item failures — at the end, at once, or every N.

Reporting only: an item's outcome, the DLQ and the error policy are the same in every mode.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from mapreduce_fsm.config.model import ErrorCollection

_LISTED = 10  # failures named in one summary; the rest are counted


@attrs.define
class FailureReport:
    """Collects item failures and hands summaries to `note` as `mode` says."""

    mode: ErrorCollection
    note: Callable[[str], None]
    batch_size: int = 1
    _pending: list[tuple[str, str]] = attrs.field(factory=list)

    def failed(self, item_id: str, error: str | None) -> None:
        self._pending.append((item_id, error or "failed"))
        if self.mode == "immediate" or (
                self.mode == "batched" and len(self._pending) >= self.batch_size):
            self._flush()

    def close(self) -> None:
        """The end of the map: what is still collected is reported."""
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        failures, self._pending = self._pending, []
        if len(failures) == 1:
            item_id, error = failures[0]
            self.note(f"item {item_id} failed: {error}")
            return
        named = "; ".join(f"{item_id}: {error}" for item_id, error in failures[:_LISTED])
        more = f"; and {len(failures) - _LISTED} more" if len(failures) > _LISTED else ""
        self.note(f"{len(failures)} items failed — {named}{more}")
