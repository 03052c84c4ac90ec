"""A machine that fails the job (a file size limit stands in for a full disk): exit 5, file named.

RLIMIT_FSIZE makes every write past the limit fail with EFBIG ("File too large"), as a
full disk fails it with ENOSPC: the same code path (an OSError from write or fsync, with
no file name attached). SIGXFSZ is ignored so the write fails instead of killing the process.
"""

from __future__ import annotations

import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import cli_command, cli_env, wait_for

HANG_SECS = 60
EXIT_ENVIRONMENT = 5  # docs/workflow-format.md §7

MANY_ITEMS = """\
name: fills-the-disk
map:
  input: "seq 1 400"
  agent_template:
    - shell: "true"
"""


def limited_to(limit_bytes: int) -> Callable[[], None]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit


def run_limited(tmp_path: Path, limit_bytes: int) -> subprocess.CompletedProcess[str]:
    (tmp_path / "wf.yml").write_text(MANY_ITEMS, encoding="utf-8")
    return subprocess.run(
        [*cli_command(("run", "wf.yml", "--job-id", "full-1", "-q"), tmp_path / "state")],
        cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=HANG_SECS, preexec_fn=limited_to(limit_bytes), check=False,
    )


def test_a_full_disk_at_the_first_checkpoint_exits_5_naming_the_file(tmp_path: Path) -> None:
    done = run_limited(tmp_path, 300)  # the workflow file fits, the first checkpoint does not
    checkpoint = tmp_path / "state" / "jobs" / "full-1" / "checkpoint.json"
    assert done.returncode == EXIT_ENVIRONMENT, done.stderr
    assert f"cannot write {checkpoint}: File too large" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_a_full_disk_during_the_map_exits_5_with_the_first_error_and_no_lock_left(
    tmp_path: Path,
) -> None:
    done = run_limited(tmp_path, 8000)  # room for the checkpoints, not for 400 items' events
    job = tmp_path / "state" / "jobs" / "full-1"
    assert done.returncode == EXIT_ENVIRONMENT, done.stderr
    first_error = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    assert first_error.startswith(f"error: cannot write {job}/"), done.stderr
    assert "File too large" in first_error
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert not (job / "lock").exists()
    assert (job / "checkpoint.json").is_file()


def test_after_a_full_disk_in_the_map_the_job_resumes(tmp_path: Path) -> None:
    assert run_limited(tmp_path, 8000).returncode == EXIT_ENVIRONMENT
    done = subprocess.run(
        cli_command(("resume", "full-1", "-q"), tmp_path / "state"), cwd=tmp_path,
        env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=HANG_SECS, check=False,
    )
    assert done.returncode == 0, done.stderr


SLOW_ITEMS = """\
name: goes-read-only
map:
  input: "seq 1 6"
  max_parallel: 2
  agent_template:
    - shell: "touch started-${item}; while [ ! -f go ]; do sleep 0.05; done"
"""


def _immutable(paths: list[Path], on: bool) -> bool:
    """chattr +i/-i: even root cannot create, remove or append to such files (ext4, xfs...)."""
    done = subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)],
                          capture_output=True, check=False)
    return done.returncode == 0


def test_a_read_only_job_directory_mid_map_reports_the_first_error_then_the_lock(
    tmp_path: Path,
) -> None:
    """Stands in for a read-only remount: the job directory and its logs made immutable
    while items run. Needs chattr and a file system that has the flag; else skipped."""
    (tmp_path / "wf.yml").write_text(SLOW_ITEMS, encoding="utf-8")
    job = tmp_path / "state" / "jobs" / "ro-1"
    runner = subprocess.Popen(
        cli_command(("run", "wf.yml", "--job-id", "ro-1", "-q"), tmp_path / "state"),
        cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    frozen = [job, job / "events.jsonl", job / "results.jsonl", job / "attempts.jsonl"]
    try:
        wait_for(lambda: (tmp_path / "started-1").exists(), what="the first item to start")
        frozen = [path for path in frozen if path.exists()]
        if not _immutable(frozen, True):
            pytest.skip("chattr +i is not available here")
        (tmp_path / "go").touch()
        _, stderr = runner.communicate(timeout=HANG_SECS)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        _immutable(frozen, False)
    assert runner.returncode == EXIT_ENVIRONMENT, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith(f"error: cannot write {job}/"), stderr
    assert "Operation not permitted" in lines[0]
    assert f"then: cannot remove the lock {job / 'lock'}" in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr

    resumed = subprocess.run(  # the directory writable again: the stale lock is taken over
        cli_command(("resume", "ro-1", "-q"), tmp_path / "state"), cwd=tmp_path,
        env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=HANG_SECS, check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert not (job / "lock").exists()
