"""`stop` (a job run in another terminal) and `clean` (ended jobs and their worktrees)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, job_ids, start_cli, wait_for

WriteWorkflow = Callable[[str, str], Path]

SLOW = """
    name: slow
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "sleep 60"
    """

QUICK = """
    name: quick
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """

FAILS = """
    name: fails
    setup:
      - shell: "exit 3"
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """


@pytest.fixture
def running_job(write_workflow: WriteWorkflow, tmp_path: Path,
                state_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Job `slow-1`, run by another process and busy in its map; killed if still running."""
    workflow = write_workflow("slow.yml", SLOW)
    process = start_cli(("run", str(workflow), "--job-id", "slow-1"), tmp_path, state_dir,
                        capture=True)
    events = state_dir / "jobs" / "slow-1" / "events.jsonl"
    try:
        wait_for(lambda: events.is_file() and "item.started" in events.read_text(),
                 what="the map to start an item")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_stop_ends_the_run_as_ctrl_c_would_and_the_job_resumes(
    cli: Cli, running_job: subprocess.Popen[str], state_dir: Path
) -> None:
    code, stdout, stderr = cli("stop", "slow-1")
    assert code == 0, stderr
    assert stdout.startswith("stopped job slow-1 (process ")
    assert f"resume with: mapreduce-fsm resume slow-1 --state-dir {state_dir}" in stdout
    _, runner_stderr = running_job.communicate(timeout=60)
    assert running_job.returncode == 130, runner_stderr
    assert "job slow-1 interrupted in map" in runner_stderr
    assert "map: stopped at 0/2 (0 failed)" in runner_stderr  # not "finished 0/2"
    status = json.loads(cli("status", "slow-1", "--json").stdout)
    assert (status["state"], status["running"]) == ("map", False)
    shown = cli("status", "slow-1").stdout  # no process runs the map: not "map: running"
    assert shown.startswith("job slow-1 (slow): stopped in map; resume with: ")
    assert "\n  map: stopped, 0/2 items done\n" in shown


def test_stop_of_a_job_nobody_runs_or_of_an_unknown_job_exits_2(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    assert cli("run", str(write_workflow("quick.yml", QUICK)), "--job-id", "q-1").code == 0
    code, _, stderr = cli("stop", "q-1")
    assert code == 2
    assert "job q-1 is not running: no live process holds its lock" in stderr
    code, _, stderr = cli("stop", "nope")
    assert code == 2 and "no job nope" in stderr


def test_resume_of_a_job_another_process_runs_says_so_without_claiming_to_resume(
    cli: Cli, running_job: subprocess.Popen[str]
) -> None:
    code, _, stderr = cli("resume", "slow-1")
    assert code == 2
    assert stderr.startswith("error: job slow-1 is being run by process "), stderr
    assert "resuming" not in stderr
    assert running_job.poll() is None


def test_logs_of_an_item_whose_step_is_still_running_says_so_and_after_a_stop_too(
    cli: Cli, running_job: subprocess.Popen[str]
) -> None:
    code, _, stderr = cli("logs", "slow-1", "item-0")
    assert code == 2
    assert "item 'item-0' of job slow-1 started, but none of its steps has ended" in stderr
    assert cli("stop", "slow-1").code == 0
    running_job.communicate(timeout=60)
    code, _, stderr = cli("logs", "slow-1", "item-0")
    assert code == 2  # the stop ended its step: still no output, and said the same way
    assert "item 'item-0' of job slow-1 started, but none of its steps has ended" in stderr


def test_stop_refuses_a_negative_wait_before_signalling(
    cli: Cli, running_job: subprocess.Popen[str]
) -> None:
    code, _, stderr = cli("stop", "slow-1", "--wait", "-5")
    assert code == 2
    assert "--wait must be 0 seconds or more, got -5" in stderr
    code, _, stderr = cli("stop", "slow-1", "--wait", "soon")
    assert (code, stderr) == (2, "error: --wait must be a number of seconds, got 'soon'\n")
    assert running_job.poll() is None  # not asked to stop


def test_stop_does_not_signal_a_process_that_only_reuses_the_locked_pid(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    assert cli("run", str(write_workflow("quick.yml", QUICK)), "--job-id", "q-2").code == 0
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": stranger.pid, "host": socket.gethostname(),
                "started_at": "2020-01-01T00:00:00.000Z"}  # long before `stranger` started
        (state_dir / "jobs" / "q-2" / "lock").write_text(json.dumps(lock))
        code, _, stderr = cli("stop", "q-2")
        assert code == 2, stderr
        assert "started after the lock was taken" in stderr
        assert stranger.poll() is None  # not signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_clean_removes_ended_jobs_keeps_running_and_interrupted_ones(
    cli: Cli, write_workflow: WriteWorkflow, running_job: subprocess.Popen[str],
    state_dir: Path,
) -> None:
    assert cli("run", str(write_workflow("quick.yml", QUICK)), "--job-id", "done").code == 0
    assert cli("run", str(write_workflow("fails.yml", FAILS)), "--job-id", "broke").code == 1
    interrupted = state_dir / "jobs" / "cut"
    interrupted.mkdir()
    checkpoint = json.loads((state_dir / "jobs" / "done" / "checkpoint.json").read_text())
    (interrupted / "checkpoint.json").write_text(json.dumps({**checkpoint, "job_id": "cut",
                                                             "state": "map"}))

    code, stdout, _ = cli("clean", "--dry-run")
    assert code == 0
    assert "would remove broke (failed)" in stdout and "would remove done (completed)" in stdout
    assert "dry run: 2 jobs would be removed" in stdout
    assert job_ids(state_dir) == ["broke", "cut", "done", "slow-1"]

    code, stdout, _ = cli("clean", "--older-than", "1d")
    assert (code, stdout.strip()) == (0, "no jobs to remove")

    code, stdout, _ = cli("clean")
    assert code == 0
    assert f"removed done (completed): {state_dir / 'jobs' / 'done'}" in stdout
    assert job_ids(state_dir) == ["cut", "slow-1"]  # resumable, and running

    code, stdout, stderr = cli("clean", "slow-1", "cut")
    assert code == 1  # a named job was kept
    assert "kept slow-1: running (process " in stderr
    assert "removed cut (stopped in map)" in stdout  # said as `jobs` and `status` say it
    assert job_ids(state_dir) == ["slow-1"]
    assert running_job.poll() is None  # cleaning never touched the running job


def test_clean_rejects_a_bad_age_and_an_unknown_job(cli: Cli) -> None:
    code, _, stderr = cli("clean", "--older-than", "soon")
    assert code == 2 and "expected an age such as 30m, 12h, 7d or 2w" in stderr
    code, _, stderr = cli("clean", "ghost")
    assert code == 2 and "no job ghost" in stderr


def test_clean_removes_git_worktrees_inside_a_job(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    assert cli("run", str(write_workflow("quick.yml", QUICK)), "--job-id", "wt").code == 0
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    worktree = state_dir / "jobs" / "wt" / "worktrees" / "item-0"
    subprocess.run([*git, "-C", str(repo), "worktree", "add", "-q", "-b", "item-0",
                    str(worktree)], check=True)

    code, stdout, stderr = cli("clean", "wt")
    assert code == 0, stderr
    assert "removed wt (completed, 1 git worktree)" in stdout
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert str(worktree) not in listed
    assert job_ids(state_dir) == []
