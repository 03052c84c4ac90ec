"""The bench's stopped job is what a user gets when a run is interrupted, and resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bench_jobs import ENGINE, stopped_job, to_first_new_item


def test_a_stopped_job_has_its_done_items_counted_and_resumes_the_rest(tmp_path: Path) -> None:
    job = stopped_job(tmp_path, items=40, done=30)
    status = subprocess.run([*ENGINE, "status", job.job_id, "--json", "--state-dir",
                             str(job.state_dir)], capture_output=True, text=True, check=True,
                            timeout=120)
    payload = json.loads(status.stdout)
    assert (payload["state"], payload["items"], payload["running"]) == (
        "map", {"success": 30}, False)
    first_secs, resume = to_first_new_item(job)
    assert 0 < first_secs <= resume.wall_secs and resume.peak_rss_kib > 0
    done = subprocess.run([sys.executable, "-m", "mapreduce_fsm", "status", job.job_id,
                           "--json", "--state-dir", str(job.state_dir)],
                          capture_output=True, text=True, check=True, timeout=120)
    payload = json.loads(done.stdout)
    assert (payload["state"], payload["items"]) == ("completed", {"success": 40})
