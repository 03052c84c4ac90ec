"""Stopping a job run by another process, and removing ended jobs (and their git worktrees)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs

from mapreduce_fsm.agents.order import remove_abandoned_item_areas
from mapreduce_fsm.convert import parse_timestamp
from mapreduce_fsm.errors import JobLockedError, JobStateError, MapReduceError, UsageError
from mapreduce_fsm.phases.machine import ENDED_STATES
from mapreduce_fsm.state import JobStore
from mapreduce_fsm.state.jobstore import job_ids
from mapreduce_fsm.state.lock import JobLock, LockHolder

STOP_WAIT_SECS = 30.0
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
_AGE_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CLOCK_SLACK_SECS = 2.0  # a lock is written just after its process starts


class NotRunningError(UsageError):
    """`stop`: no live process runs the job (exit 2)."""


class StillRunningError(MapReduceError):
    """`stop`: the job's process did not end in the time allowed (exit 1)."""


def parse_age(text: str) -> float:
    """Seconds in an age such as "30m", "12h", "7d" or "2w"; UsageError otherwise."""
    match = _AGE.match(text)
    if match is None:
        raise UsageError(f"--older-than {text!r}: expected an age such as 30m, 12h, 7d or 2w")
    return float(match.group(1)) * _AGE_UNIT_SECONDS[match.group(2)]


def _process_started_at(pid: int) -> datetime | None:
    """When process `pid` started (Linux /proc); None when that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time since boot
    seconds = int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.fromtimestamp(seconds, UTC)


def runner_of(store: JobStore) -> LockHolder:
    """The live process that runs the job; NotRunningError when there is none.

    The lock names a pid; a process that started after the lock was written only reuses
    that pid and is not the job's runner.
    """
    holder = store.lock().live_holder()
    if holder is None:
        raise NotRunningError(f"job {store.job_id} is not running: no live process holds "
                              f"its lock ({store.path / 'lock'})")
    if holder.host != socket.gethostname():
        raise NotRunningError(f"job {store.job_id} is run by process {holder.pid} on host "
                              f"{holder.host}; stop it there")
    started = _process_started_at(holder.pid)
    locked = parse_timestamp(holder.started_at)
    if started is not None and (started - locked).total_seconds() > _CLOCK_SLACK_SECS:
        raise NotRunningError(f"job {store.job_id} is not running: its lock names process "
                              f"{holder.pid}, which started after the lock was taken (the "
                              "pid was reused)")
    return holder


def stop_job(store: JobStore, *, wait_secs: float = STOP_WAIT_SECS,
             poll: Callable[[float], None] = time.sleep) -> LockHolder:
    """Ask the process running the job to stop, as Ctrl-C would, and wait for it to end.

    Sends SIGINT to the pid in the job's lock after checking it is live and this job's
    runner. Returns the holder that stopped; NotRunningError when none runs the job,
    StillRunningError when it has not ended after `wait_secs`.
    """
    holder = runner_of(store)
    try:
        os.kill(holder.pid, signal.SIGINT)
    except ProcessLookupError:
        return holder  # it ended meanwhile
    deadline = time.monotonic() + wait_secs
    lock = store.lock()
    while lock.live_holder() == holder:
        if time.monotonic() > deadline:
            raise StillRunningError(
                f"job {store.job_id}: process {holder.pid} was asked to stop but still runs "
                f"after {wait_secs:g}s; wait, run stop again, or `kill {holder.pid}`")
        poll(0.05)
    return holder


@attrs.frozen(kw_only=True)
class CleanChoice:
    """A job `clean` looked at: removed (or would be, with --dry-run), or kept and why."""

    job_id: str
    path: Path
    state: str
    kept_because: str | None = None
    worktrees: tuple[Path, ...] = ()


def _updated_at(store: JobStore) -> tuple[str, datetime | None]:
    """The job's state and when it last changed (the directory's mtime without checkpoint)."""
    try:
        checkpoint = store.load_checkpoint()
    except JobStateError:
        checkpoint = None
    if checkpoint is not None:
        return checkpoint.state, parse_timestamp(checkpoint.updated_at)
    try:
        return "unknown", datetime.fromtimestamp(store.path.stat().st_mtime, UTC)
    except OSError:
        return "unknown", None


def choose_jobs_to_clean(state_dir: Path, named: Sequence[str], *,
                         older_than_secs: float | None,
                         now: datetime | None = None) -> list[CleanChoice]:
    """Which jobs `clean` removes: the named ones, else every ended one (completed, failed,
    paused); with `older_than_secs`, only those unchanged for that long. A job a live
    process runs is always kept."""
    now = now or datetime.now(UTC)
    chosen = []
    for job_id in named or job_ids(state_dir):
        store = JobStore.open(state_dir, job_id)  # an unknown named job: JobStateError
        state, updated = _updated_at(store)
        if not named and state not in ENDED_STATES:
            continue  # interrupted or never started: resumable, removed only when named
        if older_than_secs is not None and (
                updated is None or (now - updated).total_seconds() < older_than_secs):
            continue
        holder = store.lock().live_holder()
        reason = None if holder is None else f"running (process {holder.pid} on {holder.host})"
        chosen.append(CleanChoice(job_id=job_id, path=store.path, state=state,
                                  kept_because=reason,
                                  worktrees=tuple(git_worktrees_under(store.path))))
    return chosen


def remove_job(choice: CleanChoice) -> None:
    """Remove the job's git worktrees, then its directory, holding its lock meanwhile."""
    lock = JobLock(choice.path / "lock", choice.job_id)
    try:
        lock.acquire()
    except JobLockedError as error:
        raise JobLockedError(f"kept {choice.job_id}: {error}") from None
    repos = set()
    try:
        for worktree in choice.worktrees:
            repo = _main_repository(worktree)
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                           cwd=repo or worktree.parent, capture_output=True, check=False)
            if repo is not None:
                repos.add(repo)
        shutil.rmtree(choice.path)
        remove_abandoned_item_areas(choice.job_id)  # a killed run's ITEM_JSON_FILEs
    finally:
        lock.release()  # its file went with the directory; this forgets it here
    for repo in repos:  # forget worktrees whose directory went with the job's
        subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True,
                       check=False)


def git_worktrees_under(directory: Path) -> Iterator[Path]:
    """Git worktrees inside a job directory: directories whose `.git` is a file (a linked
    worktree's pointer to its repository). Found by looking, so whatever records the run
    kept of them, none is left registered in its repository."""
    for root, dirs, files in os.walk(directory):
        if ".git" in files:
            yield Path(root)
            dirs.clear()  # a worktree's own files are not searched
        if ".git" in dirs:
            dirs.remove(".git")


def _main_repository(worktree: Path) -> Path | None:
    """The working tree of the repository a linked worktree belongs to."""
    try:
        pointer = (worktree / ".git").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not pointer.startswith("gitdir:"):
        return None
    gitdir = Path(pointer.removeprefix("gitdir:").strip())  # <repo>/.git/worktrees/<name>
    if not gitdir.is_absolute():
        gitdir = (worktree / gitdir).resolve()
    common = gitdir.parent.parent  # <repo>/.git
    return common.parent if common.name == ".git" else common
