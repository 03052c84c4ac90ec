"""The bench's isolation section runs end to end on a small repository (its figures vary)."""

from __future__ import annotations

import pytest

from tests import bench_isolation


def test_the_isolation_bench_section_measures_and_reports(
        capsys: pytest.CaptureFixture[str]) -> None:
    ratio = bench_isolation.report(files=30, items=3, fresh_runs=1)
    printed = capsys.readouterr().out
    assert ratio > 0
    assert "3. worktree isolation on a repository of 30 files, median of 3 items" in printed
    assert f"ratio {ratio:.2f}" in printed
