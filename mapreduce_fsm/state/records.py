"""The durable records a job writes: item results, attempts, dead-letter entries, events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

ItemStatus = Literal["success", "failed", "timeout", "skipped"]
FAILURE_STATUSES = frozenset({"failed", "timeout"})  # what counts as an item failure
FINAL_STATUSES: frozenset[str] = frozenset({"success", "failed", "timeout", "skipped"})


@attrs.frozen(kw_only=True)
class ItemResult:
    """One item's final result: one line of `results.jsonl`, one object of `${map.results}`."""

    item_id: str
    item_index: int
    item: Any
    status: ItemStatus
    exit_code: int | None = None
    output: str = ""  # combined stdout of the steps, capped
    error: str | None = None
    failed_step: str | None = None
    attempts: int = 1
    started_at: str = ""  # ISO 8601, UTC
    finished_at: str = ""
    duration_secs: float = 0.0
    captures: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AttemptRecord:
    """One failed attempt at an item: a line of `attempts.jsonl`, so that retry counts survive
    a crash, and one step of a dead-letter entry's history (which leaves out the item id)."""

    item_id: str
    attempt: int
    status: ItemStatus
    error: str | None
    exit_code: int | None
    failed_step: str | None
    stderr_tail: str
    at: str  # ISO 8601, UTC
    retry_at: str | None = None  # when the next attempt may start; None if none is due


@attrs.frozen(kw_only=True)
class DlqEntry:
    """An item that ran out of chances: one line of `dlq.jsonl`."""

    item_id: str
    item_index: int
    item: Any
    attempts: tuple[AttemptRecord, ...]
    signature: str  # groups entries that failed the same way (see policy.signature)
    added_at: str


@attrs.frozen(kw_only=True)
class Event:
    """One line of `events.jsonl`."""

    seq: int
    at: str  # ISO 8601, UTC
    type: str  # e.g. "job.started", "phase.entered", "item.finished", "circuit.opened"
    job_id: str
    phase: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
