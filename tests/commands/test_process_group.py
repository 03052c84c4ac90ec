"""Timeouts, cancellation and output caps: the whole process group goes, nothing hangs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mapreduce_fsm.commands import StepContext, run_step
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step

# A shell step that writes its process group id, then leaves two grandchildren
# behind: a plain sleep and one that ignores SIGTERM (SIG_IGN survives exec).
STUBBORN_GROUP = "echo $$ > {pidfile}; sleep 60 & (trap '' TERM; sleep 60) & wait"


def live_processes(matches: Callable[[Path, list[str]], bool]) -> list[int]:
    """Pids of live (non-zombie) processes for which `matches(/proc/PID, stat fields)`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and matches(entry, fields):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def live_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (a zombie has already died)."""
    return live_processes(lambda _, fields: int(fields[2]) == pgid)


def kill_leftovers(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run(step: Step, context: StepContext) -> StepResult:
    return asyncio.run(run_step(step, {}, context))


def test_timeout_kills_every_grandchild_and_returns_promptly(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    step = Step(shell=STUBBORN_GROUP.format(pidfile=pidfile), timeout=2.0)
    started = time.monotonic()
    result = run(step, StepContext(cwd=tmp_path, kill_grace_secs=0.5))
    elapsed = time.monotonic() - started
    pgid = int(pidfile.read_text())
    try:
        assert result.status == "timeout"
        assert result.error == "timed out after 2.0s"
        assert result.exit_code is None
        assert not result.ok
        assert elapsed < 2.0 + 3.0
        assert live_members(pgid) == []
    finally:
        kill_leftovers(pgid)


def test_deadline_limits_a_step_without_its_own_timeout(tmp_path: Path) -> None:
    context = StepContext(cwd=tmp_path, deadline=time.monotonic() + 0.5, kill_grace_secs=0.2,
                          deadline_name="the item's time limit")
    started = time.monotonic()
    result = run(Step(shell="sleep 30", timeout=60), context)
    assert result.status == "timeout"
    assert re.fullmatch(r"timed out after 0\.\d{1,2}s \(the item's time limit\)",
                        result.error or ""), result.error
    assert time.monotonic() - started < 3.0


def test_expired_deadline_times_out_without_starting(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    context = StepContext(cwd=tmp_path, deadline=time.monotonic() - 1)
    result = run(Step(shell=f"touch {marker}"), context)
    assert result.status == "timeout"
    assert "ran out before the step started" in (result.error or "")
    assert not marker.exists()


def test_cancellation_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    step = Step(shell=STUBBORN_GROUP.format(pidfile=pidfile))
    context = StepContext(cwd=tmp_path, kill_grace_secs=0.5)

    async def scenario() -> None:
        task = asyncio.create_task(run_step(step, {}, context))
        while not pidfile.exists() or not pidfile.read_text().strip():
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(scenario())
    pgid = int(pidfile.read_text())
    try:
        assert time.monotonic() - started < 5.0
        assert live_members(pgid) == []
    finally:
        kill_leftovers(pgid)


def test_background_process_holding_the_pipe_does_not_block(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    started = time.monotonic()
    step = Step(shell=f"echo $$ > {pidfile}; sleep 30 & echo done")
    result = run(step, StepContext(cwd=tmp_path))
    try:
        assert result.status == "success"
        assert result.stdout == "done\n"
        assert time.monotonic() - started < 3.0
    finally:
        kill_leftovers(int(pidfile.read_text()))


def test_output_beyond_the_cap_is_dropped_and_noted(tmp_path: Path) -> None:
    step = Step(
        shell="head -c 5000 /dev/zero | tr '\\0' a; head -c 3000 /dev/zero | tr '\\0' b >&2",
        max_output_bytes=1000,
    )
    result = run(step, StepContext(cwd=tmp_path))
    assert result.status == "success"
    assert result.output_truncated
    assert result.stdout == "a" * 1000 + "\n[... 4000 bytes dropped]\n"
    assert result.stderr == "b" * 1000 + "\n[... 2000 bytes dropped]\n"


def test_output_under_the_cap_is_kept_whole(tmp_path: Path) -> None:
    result = run(Step(shell="printf 'x%.0s' $(seq 100)", max_output_bytes=100),
                 StepContext(cwd=tmp_path))
    assert result.stdout == "x" * 100
    assert not result.output_truncated


def test_large_output_is_read_without_deadlock(tmp_path: Path) -> None:
    step = Step(shell="head -c 20000000 /dev/zero; echo tail >&2", max_output_bytes=1024)
    result = run(step, StepContext(cwd=tmp_path))
    assert result.status == "success"
    assert result.stderr == "tail\n"
    assert "[... 19998976 bytes dropped]" in result.stdout


def test_process_killed_by_a_signal_reports_128_plus_signal(tmp_path: Path) -> None:
    result = run(Step(shell="kill -9 $$"), StepContext(cwd=tmp_path))
    assert result.status == "failed"
    assert result.exit_code == 128 + 9


def test_too_long_command_line_is_a_failed_step(tmp_path: Path) -> None:
    result = run(Step(shell="echo " + "x" * 300_000), StepContext(cwd=tmp_path))
    assert result.status == "failed"
    assert result.error == ("cannot start 'sh': an argument is 300006 bytes; Linux limits one "
                            "argument or environment string to 128 KiB (MAX_ARG_STRLEN)")


def processes_running(marker: str) -> list[int]:
    """Live processes whose command line contains `marker`."""
    return live_processes(
        lambda entry, _: marker in (entry / "cmdline").read_bytes().decode(errors="replace"))


@pytest.mark.parametrize("loop_turns", range(6))
def test_a_cancel_while_the_process_is_being_spawned_kills_it_promptly(
    tmp_path: Path, loop_turns: int
) -> None:
    # Python 3.11 cancelled inside `subprocess_exec` kills only the program and then waits
    # for its pipes, which the background sleep holds for 30 s: the spawn is shielded.
    marker = f"30.{os.getpid()}{loop_turns}"
    step = Step(shell=f"sleep {marker} & sleep {marker}")
    context = StepContext(cwd=tmp_path, kill_grace_secs=0.5)

    async def scenario() -> None:
        task = asyncio.create_task(run_step(step, {}, context))
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    try:
        asyncio.run(scenario())
        assert time.monotonic() - started < 5.0
        assert processes_running(marker) == []
    finally:
        for pid in processes_running(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfds (Linux 5.3+)")
def test_children_are_watched_without_a_thread_each(tmp_path: Path) -> None:
    # Python 3.11's default child watcher starts an `asyncio-waitpid-N` thread per subprocess,
    # a large part of a trivial step's cost; we watch pidfds in the loop instead.

    async def scenario() -> list[str]:
        task = asyncio.create_task(run_step(Step(shell="sleep 0.5"), {}, StepContext(cwd=tmp_path)))
        await asyncio.sleep(0.2)
        names = [thread.name for thread in threading.enumerate()]
        result = await task
        assert result.status == "success"
        return names

    for _ in range(2):  # a second event loop in the same process works just as well
        assert not [name for name in asyncio.run(scenario()) if "waitpid" in name]
