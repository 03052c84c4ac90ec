"""The job lock: held by a live process it refuses; left by a dead one it is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce_fsm.errors import EnvironmentFailure, JobLockedError
from mapreduce_fsm.state import JobLock

HOLDER = """
import sys
from mapreduce_fsm.state import JobLock
lock = JobLock(sys.argv[1], "job-1").acquire()
print("locked", flush=True)
sys.stdin.read()   # hold it until the parent closes our stdin
lock.release()
"""

DIES_HOLDING = """
import os, sys
from mapreduce_fsm.state import JobLock
JobLock(sys.argv[1], "job-1").acquire()
os._exit(0)        # exits without releasing, as a crash would
"""


def test_lock_file_names_this_process_and_is_removed_on_release(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with JobLock(path, "job-1") as lock:
        content = json.loads(path.read_text())
        assert content["pid"] == os.getpid()
        assert content["host"] == socket.gethostname()
        assert content["started_at"].endswith("Z")
        assert lock.held and lock.took_over_from is None
    assert not path.exists() and not lock.held


def test_lock_held_by_a_live_process_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(JobLockedError, match=f"job job-1 is being run by process {child.pid}"):
            JobLock(path, "job-1").acquire()
        assert json.loads(path.read_text())["pid"] == child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=20)
    assert not path.exists()
    with JobLock(path, "job-1") as lock:
        assert lock.took_over_from is None


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    child = subprocess.run([sys.executable, "-c", DIES_HOLDING, str(path)], check=True)
    dead_pid = json.loads(path.read_text())["pid"]
    assert child.returncode == 0
    with JobLock(path, "job-1") as lock:
        assert lock.took_over_from == dead_pid
        assert json.loads(path.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("content", ["", "{half", '{"pid": "12"}', "[]"])
def test_unreadable_lock_is_taken_over(tmp_path: Path, content: str) -> None:
    path = tmp_path / "lock"
    path.write_text(content)
    with JobLock(path, "job-1") as lock:
        assert lock.took_over_from is None
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_lock_naming_this_pid_but_not_held_here_is_stale(tmp_path: Path) -> None:
    # An earlier process had the same pid (usual in containers) and died holding the lock.
    path = tmp_path / "lock"
    path.write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started_at": "earlier"}
    ))
    with JobLock(path, "job-1") as lock:
        assert lock.took_over_from == os.getpid()


def test_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with JobLock(path, "job-1"), pytest.raises(JobLockedError, match=str(os.getpid())):
        JobLock(path, "job-1").acquire()


def test_lock_from_another_host_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started_at": "x"}))
    with pytest.raises(JobLockedError, match=r"process 1 on elsewhere\.example"):
        JobLock(path, "job-1").acquire()


def test_release_leaves_a_lock_someone_else_took(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    lock = JobLock(path, "job-1").acquire()
    other = {"pid": 4242, "host": socket.gethostname(), "started_at": "later"}
    path.write_text(json.dumps(other))  # e.g. another process broke our lock
    lock.release()
    assert json.loads(path.read_text()) == other


def test_release_after_the_lock_file_vanished_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    lock = JobLock(path, "job-1").acquire()
    path.unlink()
    lock.release()
    assert not lock.held


def test_the_lock_file_is_removed_even_when_closing_the_journals_fails(tmp_path: Path) -> None:
    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    lock = JobLock(tmp_path / "lock", "job-1", on_release=disk_full)
    lock.acquire()
    with pytest.raises(OSError, match="No space left"):
        lock.release()
    assert not (tmp_path / "lock").exists()
    assert not lock.held


def test_a_lock_that_cannot_be_removed_is_an_environment_failure_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = JobLock(tmp_path / "lock", "job-1").acquire()

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(EnvironmentFailure) as caught:
        lock.release()
    assert str(caught.value) == (
        f"cannot remove the lock {tmp_path / 'lock'}: Read-only file system"
    )
    assert caught.value.exit_code == 5
