"""Process groups of steps: telling one apart by its leader's start time, finding its live
members, ending it (SIGTERM, a grace period, SIGKILL).

A group is recorded with the clock's time just after its leader started (`clock_stamp`);
a later run takes a live leader for the step's when its start (`start_stamp`, from /proc)
is no later than that and not `STAMP_TOLERANCE_TICKS` earlier (`started_then`).

Both the step runner (`commands.process`) and the job's record of running groups
(`state.process_groups`, which ends a killed runner's leftovers) use these; none of them
needs an event loop but `kill_group`'s waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Protocol

POLL_SECS = 0.02
KILL_SETTLE_SECS = 1.0  # how long SIGKILLed processes may take to die


class GroupRecorder(Protocol):
    """Told of every process group a step starts, and when its leader has ended."""

    def started(self, pgid: int) -> None: ...

    def ended(self, pgid: int) -> None: ...


_TICKS_PER_SEC = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# How long after its leader started a group may be recorded: the record takes the
# clock's time once the program runs (reading the leader's /proc entry then waited for
# its exec to end, a tenth of a trivial item's cost). Only a runner stalled longer
# than this between the two would leave a group a later run cannot tell for its own.
STAMP_TOLERANCE_TICKS = 10 * _TICKS_PER_SEC


def clock_stamp() -> int | None:
    """Now, as a start stamp reads (clock ticks since boot); None without that clock."""
    try:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME) * _TICKS_PER_SEC // 1_000_000_000
    except (AttributeError, OSError):
        return None


def started_then(recorded: int, actual: int) -> bool:
    """Whether a process that started at `actual` is the one a record made at `recorded`
    names: it started before the record (a pid used again starts after it, once the
    step has ended), and not long before."""
    return recorded - STAMP_TOLERANCE_TICKS <= actual <= recorded


def start_stamp(pid: int) -> int | None:
    """When `pid` started, in clock ticks after boot (/proc/PID/stat field 22): with the
    pid, it names one process, even after the pid is reused. None if it is gone (or no /proc)."""
    try:  # os-level calls: this runs once per step, and pathlib's are several times slower
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        stat = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(stat[stat.rindex(b")") + 2:].split()[19])


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
        await asyncio.sleep(POLL_SECS)
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
    await _wait_group_gone(pgid, KILL_SETTLE_SECS)
