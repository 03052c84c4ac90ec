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
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

PIPE_DRAIN_SECS = 0.5
_READ_CHUNK = 64 * 1024
_POLL_SECS = 0.02


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


async def _pump(stream: asyncio.StreamReader | None, buffer: _CappedBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK):
        buffer.add(chunk)


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


async def kill_group(pgid: int, grace_secs: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is still alive after `grace_secs`."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_secs
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return
        await asyncio.sleep(_POLL_SECS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


async def _finish_pumps(pumps: Sequence[asyncio.Task[None]], within: float) -> None:
    _, pending = await asyncio.wait(pumps, timeout=within)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)


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
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        return ProcessOutcome(start_error=f"program {argv[0]!r} not found")
    except OSError as error:
        return ProcessOutcome(start_error=f"cannot start {argv[0]!r}: {error.strerror or error}")
    out, err = _CappedBuffer(max_output_bytes), _CappedBuffer(max_output_bytes)
    pumps = [
        asyncio.create_task(_pump(process.stdout, out)),
        asyncio.create_task(_pump(process.stderr, err)),
    ]
    waiter = asyncio.create_task(process.wait())
    timed_out = False
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
        if not done:
            timed_out = True
            await kill_group(process.pid, kill_grace_secs)
            await waiter
        await _finish_pumps(pumps, PIPE_DRAIN_SECS)
    except asyncio.CancelledError:
        await asyncio.shield(_kill_and_reap(process, waiter, pumps, kill_grace_secs))
        raise
    return ProcessOutcome(
        exit_code=process.returncode,
        stdout=out.noted_text(),
        stderr=err.noted_text(),
        raw_stdout=out.text(),
        timed_out=timed_out,
        truncated=bool(out.dropped or err.dropped),
        duration_secs=time.monotonic() - started,
    )


async def _kill_and_reap(
    process: asyncio.subprocess.Process,
    waiter: asyncio.Task[int],
    pumps: Sequence[asyncio.Task[None]],
    kill_grace_secs: float,
) -> None:
    await kill_group(process.pid, kill_grace_secs)
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await _finish_pumps(pumps, PIPE_DRAIN_SECS)
