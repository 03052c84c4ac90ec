"""The bench's within-job pace: ms per item over each window of finished items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import bench


def test_pace_is_ms_per_item_over_each_window(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "PACE_WINDOW", 3)
    events = tmp_path / "jobs" / "j1" / "events.jsonl"
    events.parent.mkdir(parents=True)
    # Items finish every 10 ms, then every 20 ms; one other event in between.
    times = [0, 10, 20, 30, 50, 70, 90]
    lines = [{"type": "item.finished", "at": f"2026-11-24T10:00:00.{t:03d}Z"} for t in times]
    lines.insert(2, {"type": "item.started", "at": "2026-11-24T10:00:05.000Z"})
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert bench.pace(tmp_path) == pytest.approx((10.0, 20.0))


def test_within_job_growth_compares_the_medians_of_the_last_and_first_three_windows() -> None:
    # An outlier window at either end does not move the figure.
    assert bench.within_job_growth((1.0, 1.0, 5.0, 2.0, 2.0, 9.0, 2.0)) == pytest.approx(2.0)
