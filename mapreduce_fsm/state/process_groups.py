"""`processes.jsonl`: the process groups of the steps a run has started and not yet seen end.

Every step runs in a process group of its own (`commands.process`). Its start is
appended here (the group id, which is the leader's pid, and a start stamp: the clock's
time, in the ticks /proc counts a start in, just after the leader started) and then its
end. A runner killed with SIGKILL leaves its steps running (they are in sessions of
their own); the next run of the job reads the groups that never ended and ends them
(SIGTERM, a grace period, SIGKILL) before it runs anything.

A recorded group is ended only while it is still the step's: its leader alive and started
no later than the stamp and not long before it (`commands.groups.started_then`), or its
leader gone and members left (Linux does not reuse a pid
while a process group of that id exists). Appends reach the OS at once, which is what a
SIGKILL of the runner needs (the page cache survives it), and are never fsynced: after
a power loss no step survives either, and an fsync blocks the event loop (under load,
fsyncs every half second cost the map a quarter of its speed on trivial items).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from mapreduce_fsm.state.jsonlines import JsonLinesFile

COMPACT_EVERY = 4096  # ended groups between two rewrites of the file down to the live ones


@attrs.frozen(kw_only=True)
class GroupRecord:
    """One line: a group started (with its leader's start stamp) or ended."""

    pgid: int
    # Clock ticks since boot just after the leader started (its /proc/PID/stat start time
    # is no later, and close); None without that clock or /proc.
    stamp: int | None = None
    ended: bool = False


@attrs.define
class RunningGroups:
    """The job's record of running step groups; a `commands.groups.GroupRecorder`."""

    path: Path
    _file: JsonLinesFile[GroupRecord] = attrs.field(init=False)
    _live: dict[int, GroupRecord] = attrs.field(factory=dict, init=False)
    _ended_since_compaction: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, GroupRecord, "process group")

    def started(self, pgid: int) -> None:
        # Loaded by then: a step ran.
        from mapreduce_fsm.commands.groups import clock_stamp, start_stamp

        now = clock_stamp()  # the leader has started: its own stamp is no later
        record = GroupRecord(pgid=pgid, stamp=start_stamp(pgid) if now is None else now)
        stamp = "null" if record.stamp is None else str(record.stamp)
        self._write(f'{{"pgid": {pgid}, "stamp": {stamp}}}')  # as to_json renders it
        self._live[pgid] = record

    def ended(self, pgid: int) -> None:
        if self._live.pop(pgid, None) is None:
            return
        self._write(f'{{"pgid": {pgid}, "ended": true}}')
        self._ended_since_compaction += 1
        if self._ended_since_compaction >= COMPACT_EVERY:
            self._rewrite(self._live.values())

    def close(self) -> None:
        self._file.close()

    def _write(self, line: str) -> None:
        """Append one line, straight to the OS (no fsync, see the module's docstring)."""
        self._file.open_for_append().write((line + "\n").encode())

    def leftovers(self) -> list[GroupRecord]:
        """Groups recorded as started and never as ended (by this or an earlier runner)."""
        live: dict[int, GroupRecord] = {}
        for record in self._file.scan().records:
            if record.ended:
                live.pop(record.pgid, None)
            else:
                live[record.pgid] = record
        return list(live.values())

    async def end_leftovers(self, grace_secs: float) -> list[int]:
        """End the groups an earlier runner left running; the ids of those that were alive.

        Call with the job's lock held, before this run starts any step.
        """
        from mapreduce_fsm.commands.groups import kill_group

        ended = []
        for record in self.leftovers():
            if still_the_steps(record):
                await kill_group(record.pgid, grace_secs)
                ended.append(record.pgid)
        self._rewrite(())
        return ended

    def _rewrite(self, records: Iterable[GroupRecord]) -> None:
        self._file.rewrite(records)
        self._ended_since_compaction = 0


def still_the_steps(record: GroupRecord) -> bool:
    """Whether the group `record` names still runs, and is the step's, not a reused pid's."""
    # Imported here: `jobs` and `status` reach this module through the job store, and the
    # step runner (asyncio, the commands package) is for running jobs.
    from mapreduce_fsm.commands.groups import group_members, start_stamp, started_then

    stamp = start_stamp(record.pgid)
    if stamp is not None:
        return record.stamp is None or started_then(record.stamp, stamp)
    return bool(group_members(record.pgid))
