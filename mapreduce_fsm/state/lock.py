"""The job lock: one process at a time runs a job; a lock left by a dead process is taken over."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.errors import JobLockedError, JobStateError, failing_as_environment
from mapreduce_fsm.state.atomic import remove_temp_files

_ATTEMPTS = 5

# Locks this process holds: a lock file naming this pid but not listed here was left by
# an earlier process that had the same pid (common in containers), so it is stale.
_held_here: set[Path] = set()


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path))


@attrs.frozen(kw_only=True)
class LockHolder:
    """What the lock file says: who holds it and since when."""

    pid: int
    host: str
    started_at: str


@attrs.define
class JobLock:
    """`<job>/lock`, created with O_CREAT|O_EXCL and holding `{pid, host, started_at}`.

    Use as a context manager, or call `acquire()` / `release()`. If the file exists
    and names a live process on this host (or any process on another host, which
    cannot be checked), acquiring raises JobLockedError. If its process is dead or
    the file is unreadable, the lock is taken over and `took_over_from` says from
    which pid (None when the file was unreadable or there was no old lock).
    """

    path: Path = attrs.field(converter=_absolute)
    job_id: str
    on_release: Callable[[], None] | None = None  # runs before the lock file is removed
    took_over_from: int | None = attrs.field(default=None, init=False)
    _mine: LockHolder | None = attrs.field(default=None, init=False)

    @property
    def held(self) -> bool:
        return self._mine is not None

    def acquire(self) -> JobLock:
        if self._mine is not None:
            raise JobStateError(f"job {self.job_id}: this lock is already held by this object")
        me = LockHolder(pid=os.getpid(), host=socket.gethostname(), started_at=utc_now())
        for _ in range(_ATTEMPTS):
            if self._create(me):
                self._mine = me
                _held_here.add(self.path)
                remove_temp_files(self.path.parent)  # left by a writer that was killed
                return self
            self._remove_if_stale()
        raise JobLockedError(
            f"job {self.job_id}: could not take the lock {self.path}: other processes keep "
            "taking it; try again"
        )

    def release(self) -> None:
        """Remove the lock file if it is still ours (someone may have broken it meanwhile).

        The file is removed even when `on_release` fails; a lock file that cannot be
        removed is EnvironmentFailure naming it (a later run takes it over: its process
        is gone).
        """
        mine, self._mine = self._mine, None
        if mine is None:
            return
        try:
            if self.on_release is not None:
                self.on_release()
        finally:
            _held_here.discard(self.path)
            with contextlib.suppress(FileNotFoundError), failing_as_environment(
                "remove the lock", self.path
            ):
                if self._read() == mine:
                    self.path.unlink()

    def live_holder(self) -> LockHolder | None:
        """Who runs the job now: the holder on file if its process lives, else None.

        Read without taking the lock; a process on another host counts as alive.
        """
        try:
            holder = self._read()
        except FileNotFoundError:
            return None
        return holder if holder is not None and _is_alive(holder, self.path) else None

    def __enter__(self) -> JobLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _create(self, me: LockHolder) -> bool:
        with failing_as_environment("create the lock", self.path):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    json.dump(attrs.asdict(me), file)
                    file.flush()
                    os.fsync(file.fileno())
            except BaseException:
                self.path.unlink()  # a half-written lock would read as unreadable: stale
                raise
        return True

    def _remove_if_stale(self) -> None:
        """Under an flock of the job directory, so two processes never both break a lock."""
        with _directory_flock(self.path.parent):
            try:
                holder = self._read()
            except FileNotFoundError:
                return  # released meanwhile; just try again
            if holder is not None and _is_alive(holder, self.path):
                raise JobLockedError(
                    f"job {self.job_id} is being run by process {holder.pid} on "
                    f"{holder.host} (since {holder.started_at}); wait for it or kill it. "
                    f"If that process is gone, delete {self.path}."
                )
            self.path.unlink()
            self.took_over_from = None if holder is None else holder.pid

    def _read(self) -> LockHolder | None:
        """The holder on file; None if unreadable. FileNotFoundError if there is no lock."""
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            return LockHolder(
                pid=_strict(data["pid"], int), host=_strict(data["host"], str),
                started_at=_strict(data["started_at"], str),
            )
        except FileNotFoundError:
            raise
        except (OSError, ValueError, TypeError, KeyError):
            return None


def _strict(value: Any, kind: type[Any]) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}")
    return value


def _is_alive(holder: LockHolder, path: Path) -> bool:
    if holder.host != socket.gethostname():
        return True  # cannot be checked from here: assume it runs
    if holder.pid == os.getpid():
        return path in _held_here
    if holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    return True


@contextlib.contextmanager
def _directory_flock(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
