"""Timestamps as the job files write them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """The time now: UTC, ISO 8601, milliseconds, `Z` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
