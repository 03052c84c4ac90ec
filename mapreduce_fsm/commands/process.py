"""Running one program in its own process group, with capped output, timeout and cancellation.

The program starts a new session (`start_new_session=True`), so its process group
holds it and every descendant that does not leave on purpose. On timeout or
cancellation the whole group gets SIGTERM, then SIGKILL after the grace period.
Once the program has exited (or been killed), the pipes are read until EOF for at
most `PIPE_DRAIN_SECS`: a background process still holding them cannot block the
step. Background processes left behind by a program that exits on its own are not
killed (that is how a step starts a server for later steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVarTuple

import attrs

_Ts = TypeVarTuple("_Ts")

PIPE_DRAIN_SECS = 0.5
_POLL_SECS = 0.02
_KILL_SETTLE_SECS = 1.0  # how long SIGKILLed processes may take to die


@attrs.frozen(kw_only=True)
class ProcessOutcome:
    """What a program did. `start_error` is set (and nothing else) when it could not start."""

    exit_code: int | None = None  # negative: killed by that signal
    stdout: str = ""  # capped, with a "[... N bytes dropped]" note when truncated
    stderr: str = ""
    raw_stdout: str = ""  # capped, without the note
    timed_out: bool = False
    truncated: bool = False
    duration_secs: float = 0.0
    start_error: str | None = None
    missing_program: bool = False  # the start error is that argv[0] was not found


@attrs.define
class _CappedBuffer:
    """Keeps the first `limit` bytes of a stream and counts the rest."""

    limit: int
    kept: bytearray = attrs.field(factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.kept), 0)
        self.kept += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")

    def noted_text(self) -> str:
        if not self.dropped:
            return self.text()
        return f"{self.text()}\n[... {self.dropped} bytes dropped]\n"


class _CaptureProtocol(asyncio.SubprocessProtocol):
    """Feeds stdout/stderr into capped buffers and signals the program's exit and the pipes' EOF."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        self.buffers = {1: _CappedBuffer(limit), 2: _CappedBuffer(limit)}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.pipes_closed: asyncio.Future[None] = loop.create_future()
        self._open_pipes = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.buffers[fd].add(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group; a zombie is already dead."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


async def _wait_group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECS)
    return True


async def kill_group(pgid: int, grace_secs: float) -> None:
    """SIGTERM the group, SIGKILL what is alive after `grace_secs`, wait until it is gone."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if await _wait_group_gone(pgid, grace_secs):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    await _wait_group_gone(pgid, _KILL_SETTLE_SECS)


if sys.version_info < (3, 12):  # the base class is gone from 3.14 on

    class _PidfdChildWatcher(asyncio.AbstractChildWatcher):
        """Python 3.12's loop-agnostic pidfd watcher, for 3.11 (whose own one is tied to one loop).

        Each child's pidfd is watched by the loop that started the child, so it needs no
        thread and works for any number of loops, one after another or side by side.
        """

        def __enter__(self) -> _PidfdChildWatcher:
            return self

        def __exit__(self, *exc_info: object) -> None:
            return None

        def is_active(self) -> bool:
            return True

        def close(self) -> None:
            return None

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            return None

        def add_child_handler(
            self, pid: int, callback: Callable[[int, int, *_Ts], object], *args: *_Ts
        ) -> None:
            loop = asyncio.get_running_loop()
            pidfd = os.pidfd_open(pid)
            loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

        def remove_child_handler(self, pid: int) -> bool:
            return True  # asyncio never calls it; the reader goes when the child is reaped

        @staticmethod
        def _reap(loop: asyncio.AbstractEventLoop, pid: int, pidfd: int,
                  callback: Callable[[int, int, *_Ts], object],
                  args: tuple[*_Ts]) -> None:
            loop.remove_reader(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere; asyncio's watchers report 255 too
                returncode = 255
            os.close(pidfd)
            callback(pid, returncode, *args)


_child_watcher_chosen = False


def use_pidfd_child_watcher() -> None:
    """On Python 3.11, watch child processes with pidfds in the event loop, not a thread each.

    3.11's default `ThreadedChildWatcher` starts a thread per subprocess, a large part
    of a trivial step's cost. From 3.12 on asyncio uses pidfds by itself and child
    watchers are deprecated, so nothing changes there; nor where pidfds are missing
    (Linux before 5.3, a sandbox), nor when the embedding program chose a watcher
    itself. Runs its check once per process.
    """
    global _child_watcher_chosen
    if _child_watcher_chosen:
        return
    _child_watcher_chosen = True
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()
        if not isinstance(policy, asyncio.DefaultEventLoopPolicy):
            return
        if type(policy.get_child_watcher()) is not asyncio.ThreadedChildWatcher:
            return
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:
            return
        policy.set_child_watcher(_PidfdChildWatcher())


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    max_output_bytes: int,
    kill_grace_secs: float,
) -> ProcessOutcome:
    """Run `argv` to completion or timeout; on cancellation kill its group and re-raise."""
    started = time.monotonic()
    if not cwd.is_dir():
        return ProcessOutcome(start_error=f"working directory {str(cwd)!r} does not exist")
    use_pidfd_child_watcher()
    loop = asyncio.get_running_loop()
    spawn = loop.create_task(loop.subprocess_exec(
        lambda: _CaptureProtocol(max_output_bytes, loop),
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ))
    try:
        # Shielded: asyncio cancelled mid-spawn kills only the program, then waits for
        # its pipes, which a descendant may hold until it ends on its own.
        transport, protocol = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await asyncio.shield(_kill_spawned(spawn, kill_grace_secs))
        raise
    except FileNotFoundError:
        return ProcessOutcome(start_error=f"program {argv[0]!r} not found", missing_program=True)
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno == errno.E2BIG:
            size = sum(len(arg.encode()) for arg in argv)
            reason = f"its command line is too long ({size} bytes)"
        return ProcessOutcome(start_error=f"cannot start {argv[0]!r}: {reason}")
    pgid = transport.get_pid()
    timed_out = False
    try:
        done, _ = await asyncio.wait({protocol.exited}, timeout=timeout)
        if not done:
            timed_out = True
            await kill_group(pgid, kill_grace_secs)
            await protocol.exited
        if not protocol.pipes_closed.done():
            await asyncio.wait({protocol.pipes_closed}, timeout=PIPE_DRAIN_SECS)
    except asyncio.CancelledError:
        await asyncio.shield(_kill_after_cancel(pgid, protocol, kill_grace_secs))
        raise
    finally:
        transport.close()
    out, err = protocol.buffers[1], protocol.buffers[2]
    return ProcessOutcome(
        exit_code=transport.get_returncode(),
        stdout=out.noted_text(),
        stderr=err.noted_text(),
        raw_stdout=out.text(),
        timed_out=timed_out,
        truncated=bool(out.dropped or err.dropped),
        duration_secs=time.monotonic() - started,
    )


async def _kill_spawned(
    spawn: asyncio.Task[tuple[asyncio.SubprocessTransport, _CaptureProtocol]],
    kill_grace_secs: float,
) -> None:
    """After a cancel mid-spawn: let the spawn finish, then kill the group like any cancel."""
    try:
        transport, protocol = await spawn
    except Exception:  # it did not start: nothing to kill
        return
    try:
        await _kill_after_cancel(transport.get_pid(), protocol, kill_grace_secs)
    finally:
        transport.close()


async def _kill_after_cancel(pgid: int, protocol: _CaptureProtocol, kill_grace_secs: float) -> None:
    await kill_group(pgid, kill_grace_secs)
    await asyncio.wait({protocol.exited}, timeout=kill_grace_secs)
