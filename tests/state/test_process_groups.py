"""`processes.jsonl`: leftover step groups of a killed runner are ended, a reused pid never."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapreduce_fsm.commands.groups import group_members, start_stamp
from mapreduce_fsm.convert import to_json
from mapreduce_fsm.state.process_groups import GroupRecord, RunningGroups


def write_records(path: Path, *records: GroupRecord) -> None:
    path.write_text("".join(to_json(record) + "\n" for record in records), encoding="utf-8")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session (and group) of its own, as a step runs."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_a_group_that_ended_is_no_leftover(tmp_path: Path) -> None:
    groups = RunningGroups(tmp_path / "processes.jsonl")
    groups.started(101)
    groups.started(102)
    groups.ended(101)
    groups.close()
    assert [record.pgid for record in RunningGroups(tmp_path / "processes.jsonl").leftovers()] \
        == [102]


def test_a_leftover_group_is_ended_and_the_file_emptied(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    killed_runner = RunningGroups(tmp_path / "processes.jsonl")
    killed_runner.started(sleeper.pid)
    killed_runner.close()  # what a SIGKILL leaves: the start, no end

    ended = asyncio.run(RunningGroups(tmp_path / "processes.jsonl").end_leftovers(1.0))

    assert ended == [sleeper.pid]
    assert sleeper.wait(timeout=10) < 0
    assert RunningGroups(tmp_path / "processes.jsonl").leftovers() == []


def test_a_pid_reused_by_another_process_is_not_ended(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    stamp = start_stamp(sleeper.pid)
    assert stamp is not None
    write_records(tmp_path / "processes.jsonl", GroupRecord(pgid=sleeper.pid, stamp=stamp - 1))

    ended = asyncio.run(RunningGroups(tmp_path / "processes.jsonl").end_leftovers(1.0))

    assert ended == []
    assert sleeper.poll() is None


def test_members_left_after_their_leader_exited_are_ended(tmp_path: Path) -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!"], start_new_session=True,
                              stdout=subprocess.PIPE)
    assert leader.stdout is not None
    member = int(leader.stdout.readline())
    leader.wait()
    write_records(tmp_path / "processes.jsonl", GroupRecord(pgid=leader.pid, stamp=12345))
    assert group_members(leader.pid) == [member]

    ended = asyncio.run(RunningGroups(tmp_path / "processes.jsonl").end_leftovers(1.0))

    assert ended == [leader.pid]
    assert group_members(leader.pid) == []


def test_recording_a_started_group_reads_no_proc_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the new leader's /proc/PID/stat waited for its exec to finish: a tenth of a
    # trivial map item's cost. The record takes the clock's time instead.
    from mapreduce_fsm.commands import groups

    def no_proc_read(pid: int) -> int | None:
        raise AssertionError(f"read /proc/{pid}/stat to record a start")

    monkeypatch.setattr(groups, "start_stamp", no_proc_read)
    recorder = RunningGroups(tmp_path / "processes.jsonl")
    recorder.started(4242)
    recorder.close()
    [record] = RunningGroups(tmp_path / "processes.jsonl").leftovers()
    assert record.pgid == 4242 and record.stamp is not None


def test_a_group_recorded_long_after_its_leader_started_is_not_ended(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    # A record is made just after its leader starts; a live process that started well
    # before the record (another boot's record, a pid used again) is not the step's.
    from mapreduce_fsm.commands.groups import STAMP_TOLERANCE_TICKS

    stamp = start_stamp(sleeper.pid)
    assert stamp is not None
    write_records(tmp_path / "processes.jsonl",
                  GroupRecord(pgid=sleeper.pid, stamp=stamp + STAMP_TOLERANCE_TICKS + 1))

    assert asyncio.run(RunningGroups(tmp_path / "processes.jsonl").end_leftovers(1.0)) == []
    assert sleeper.poll() is None
