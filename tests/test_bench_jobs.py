"""The bench's stopped job is what a user gets when a run is interrupted, and it resumes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.bench_jobs import ENGINE, StoppedJob, stopped_job, to_first_new_item


def status_of(job: StoppedJob) -> dict[str, object]:
    done = subprocess.run([*ENGINE, "status", job.job_id, "--json", "--state-dir",
                           str(job.state_dir)], capture_output=True, text=True, check=True,
                          timeout=120)
    payload: dict[str, object] = json.loads(done.stdout)
    return payload


def test_a_stopped_job_has_its_done_items_counted_and_resumes_the_rest(tmp_path: Path) -> None:
    job = stopped_job(tmp_path, items=40, done=30)
    status = status_of(job)
    assert (status["state"], status["items"], status["running"]) == (
        "map", {"success": 30}, False)
    first_secs, resume = to_first_new_item(job)
    assert 0 < first_secs <= resume.wall_secs and resume.peak_rss_kib > 0
    status = status_of(job)
    assert (status["state"], status["items"]) == ("completed", {"success": 40})
