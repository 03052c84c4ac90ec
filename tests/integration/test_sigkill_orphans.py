"""A runner killed (SIGKILL) while its steps run: `resume` ends the steps it left behind.

Each item's step writes a start line, sleeps, then writes an end line, all tagged with
its shell's pid. After the kill the old steps are still running (they are in sessions
of their own); the resume must end them before it runs the items again, so no old step
ever writes its end line and no process of the campaign's marker is left.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from mapreduce_fsm.state import JobStore
from tests.integration.conftest import Cli, cli_command, cli_env, wait_for
from tests.process_scan import kill_marked, processes_with_marker

JOB_ID = "orphans"


def workflow(marker: str) -> str:
    return f"""\
name: orphans
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: >-
        : {marker}; echo start ${{item}} $$ >> ran.log; sleep 4;
        echo end ${{item}} $$ >> ran.log
"""


def log_lines(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "ran.log"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [line.split() for line in text.splitlines()]


def test_resume_ends_the_steps_of_a_killed_runner_before_running_the_items_again(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    marker = f"orphan-test-{uuid.uuid4().hex}"
    (tmp_path / "items.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    (tmp_path / "orphans.yml").write_text(workflow(marker), encoding="utf-8")
    command = cli_command(("run", "orphans.yml", "--job-id", JOB_ID, "--yes"), state_dir)
    runner = subprocess.Popen(command, cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(lambda: len(log_lines(tmp_path)) >= 2, timeout=60, what="both steps started")
        runner.kill()  # the runner alone, as the OOM killer would
        runner.wait(timeout=30)
        old_pids = {line[2] for line in log_lines(tmp_path)}
        assert len(processes_with_marker(marker)) == 2  # still running, unnoticed

        resumed = cli("resume", JOB_ID, "--yes")

        assert resumed.code == 0, resumed.stderr
        assert "ended 2 leftover step process groups" in resumed.stderr
        ended = list(JobStore(state_dir, JOB_ID).events.read(types={"job.orphans_ended"}))
        assert [event.data["count"] for event in ended] == [2]
        ends = [line for line in log_lines(tmp_path) if line[0] == "end"]
        assert sorted(line[1] for line in ends) == ["1", "2"]
        assert not {line[2] for line in ends} & old_pids, "an old step ran on beside the new"
        assert processes_with_marker(marker) == []
    finally:
        kill_marked(marker)
