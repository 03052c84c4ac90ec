"""A short kill campaign (about 20 SIGKILLs of run, resume and dlq retry); `make torture`
runs the long one. Every figure the campaign checks must be 0."""

from __future__ import annotations

from pathlib import Path

from tests.torture import run_campaign


def test_twenty_kills_lose_duplicate_rerun_strand_and_orphan_nothing(tmp_path: Path) -> None:
    figures = run_campaign(20, root=tmp_path, seed=20261127, items=8, failing=2)

    assert figures.kills >= 20
    assert (figures.lost, figures.duplicated, figures.failed) == (0, 0, 0), figures.report()
    assert (figures.wrongly_rerun, figures.steps_rerun) == (0, 0), figures.report()
    assert (figures.stuck, figures.orphans) == (0, 0), figures.report()
