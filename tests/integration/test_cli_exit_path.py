"""How the command line ends: the first failure reported, the exit code kept from late signals."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.cli import main as cli_main
from mapreduce_fsm.cli import run as cli_run
from mapreduce_fsm.cli.shared import drive
from mapreduce_fsm.errors import EnvironmentFailure, JobStateError


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """main() installs handlers for the whole process: put the test runner's back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as ended:
        cli_main.main(argv)
    assert isinstance(ended.value.code, int)
    return ended.value.code


def test_the_first_failure_is_reported_with_its_code_and_the_later_one_after_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails_then_cleanup_fails(**_: Any) -> None:
        try:
            raise EnvironmentFailure("cannot write /j/results.jsonl: Read-only file system")
        finally:
            try:
                raise OSError(30, "Read-only file system", "/j/lock")
            except OSError as error:
                raise JobStateError("cannot remove the lock /j/lock") from error

    monkeypatch.setattr(cli_main.cli, "main", fails_then_cleanup_fails)
    assert _exit_code([]) == 5
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot write /j/results.jsonl: Read-only file system",
        "then: cannot remove the lock /j/lock",
    ]


@pytest.mark.parametrize(("errno", "expected"), [(28, 5), (13, 5), (30, 5), (21, 2)])
def test_an_os_error_is_an_environment_failure_by_its_errno(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], errno: int,
    expected: int,
) -> None:
    def fails(**_: Any) -> None:
        raise OSError(errno, "reason", "/j/file")

    monkeypatch.setattr(cli_main.cli, "main", fails)
    assert _exit_code([]) == expected
    assert capsys.readouterr().err == "error: cannot use /j/file: reason\n"


def test_signals_are_ignored_once_the_exit_code_is_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def interrupted(**_: Any) -> None:
        raise KeyboardInterrupt

    def exit_now(code: int) -> None:
        seen.update(code=code, sigint=signal.getsignal(signal.SIGINT),
                    sigterm=signal.getsignal(signal.SIGTERM))

    monkeypatch.setattr(cli_main.cli, "main", interrupted)
    monkeypatch.setattr(cli_main.sys, "exit", exit_now)
    cli_main.main([])
    assert seen == {"code": 130, "sigint": signal.SIG_IGN, "sigterm": signal.SIG_IGN}


def test_drive_puts_the_signal_handlers_back_when_the_job_ends() -> None:
    def mine(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, mine)

    async def job() -> str:
        await asyncio.sleep(0)
        return "done"

    assert drive(job, lambda: "interrupted") == "done"
    assert signal.getsignal(signal.SIGTERM) is mine  # not SIG_DFL: a late SIGTERM gives 130


def test_a_resume_interrupted_before_the_job_is_loaded_prints_the_resume_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def interrupted(**_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_run, "make_services", interrupted)
    state_dir = tmp_path / "state dir"
    assert _exit_code(["resume", "job-1", "-q", "--state-dir", str(state_dir)]) == 130
    assert f"resume with: mapreduce-fsm resume job-1 --state-dir '{state_dir}'" in (
        capsys.readouterr().err
    )
