"""The `map.*` variables of reduce, computed from the item results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.convert import converter
from mapreduce_fsm.state.atomic import write_atomic
from mapreduce_fsm.state.records import ItemResult


@attrs.frozen(kw_only=True)
class MapSummary:
    total: int
    successful: int
    failed: int  # failed and timed out
    skipped: int
    total_duration_secs: float

    @classmethod
    def of(cls, results: Sequence[ItemResult]) -> MapSummary:
        return cls(
            total=len(results),
            successful=sum(r.status == "success" for r in results),
            failed=sum(r.status in ("failed", "timeout") for r in results),
            skipped=sum(r.status == "skipped" for r in results),
            total_duration_secs=round(sum(r.duration_secs for r in results), 6),
        )

    @property
    def success_rate(self) -> float:
        return round(100.0 * self.successful / self.total, 2) if self.total else 0.0

    def variables(self, results: Sequence[ItemResult], results_file: Path) -> dict[str, Any]:
        average = self.total_duration_secs / self.total if self.total else 0.0
        return {
            "total": self.total,
            "successful": self.successful,
            "failed": self.failed,
            "skipped": self.skipped,
            "success_rate": self.success_rate,
            "results": converter.unstructure(list(results)),
            "results_file": str(results_file),
            "total_duration_secs": self.total_duration_secs,
            "average_duration_secs": round(average, 6),
        }

    def env(self, results_file: Path) -> dict[str, str]:
        return {
            "MAP_TOTAL": str(self.total),
            "MAP_SUCCESSFUL": str(self.successful),
            "MAP_FAILED": str(self.failed),
            "MAP_RESULTS_FILE": str(results_file),
        }


def write_results_file(path: Path, results: Sequence[ItemResult]) -> Path:
    """`${map.results_file}`: the item results as one JSON array, for large jobs."""
    write_atomic(path, json.dumps(converter.unstructure(list(results)), ensure_ascii=False))
    return path
