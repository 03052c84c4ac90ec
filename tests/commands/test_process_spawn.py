"""Starting programs: the posix_spawn and Popen ways give the same process, and PATH lookups."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mapreduce_fsm.commands import StepContext, run_step
from mapreduce_fsm.commands.process import _program_path
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step

# What a program sees of how it was started: stdin, cwd, env, session, output, exit code.
PROBE = (
    "printf 'stdin=[%s]\\n' \"$(cat)\"; echo \"cwd=$(pwd -P)\"; echo \"var=$PROBE_VAR\"; "
    "echo \"own-session=$([ \"$(ps -o sid= -p $$ | tr -d ' ')\" = $$ ] && echo yes || echo no)\"; "
    "echo to-stderr >&2; exit 3"
)


def probe(cwd: Path) -> StepResult:
    step = Step(shell=PROBE, env={"PROBE_VAR": "é x"})
    return asyncio.run(run_step(step, {}, StepContext(cwd=cwd)))


@pytest.fixture
def here_and_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two directories; the test process is in the first (steps there use posix_spawn)."""
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    return here, elsewhere


def test_a_program_started_in_the_current_directory_and_elsewhere_sees_the_same(
    here_and_elsewhere: tuple[Path, Path]
) -> None:
    here, elsewhere = here_and_elsewhere
    spawned = probe(here)  # the process is in `here`: posix_spawn
    popened = probe(elsewhere)  # another directory: Popen
    for result, where in ((spawned, here), (popened, elsewhere)):
        assert result.exit_code == 3
        assert result.stdout == (
            f"stdin=[]\ncwd={where.resolve()}\nvar=é x\nown-session=yes\n"
        ), result.stderr
        assert result.stderr == "to-stderr\n"


def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    result = probe(tmp_path / "gone")
    assert result.status == "failed"
    assert result.error == f"working directory {str(tmp_path / 'gone')!r} does not exist"


def test_program_path_is_found_on_the_childs_path_and_a_miss_is_not_remembered(
    tmp_path: Path
) -> None:
    path = os.fsencode(str(tmp_path))
    assert _program_path("mrf-probe-tool", path) == "mrf-probe-tool"  # not there: Popen decides
    tool = tmp_path / "mrf-probe-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert _program_path("mrf-probe-tool", path) == str(tool)
    assert _program_path("/bin/sh", path) == "/bin/sh"


def test_a_program_on_a_relative_path_entry_is_looked_up_from_the_childs_directory(
    tmp_path: Path
) -> None:
    # PATH=bin means bin/ under the step's working directory, not under ours.
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "mrf-relative-tool"
    tool.write_text("#!/bin/sh\necho relative tool ran\n")
    tool.chmod(0o755)
    assert _program_path("mrf-relative-tool", b"bin") == "mrf-relative-tool"
    context = StepContext(cwd=tmp_path, claude_command=("mrf-relative-tool",))
    step = Step(claude="hello", env={"PATH": "bin:/usr/bin:/bin"})
    result = asyncio.run(run_step(step, {}, context))
    assert result.stdout == "relative tool ran\n", result.error


def test_without_pidfds_a_thread_waits_for_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux before 5.3, or a sandbox that forbids pidfd_open: the exit still arrives.
    def no_pidfds(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfds)
    result = probe(tmp_path)
    assert (result.exit_code, result.stderr) == (3, "to-stderr\n")
    timed_out = asyncio.run(run_step(Step(shell="sleep 30", timeout=0.3), {},
                                     StepContext(cwd=tmp_path, kill_grace_secs=0.2)))
    assert timed_out.status == "timeout"


def test_a_deleted_working_directory_of_the_engine_does_not_stop_steps_elsewhere(
    here_and_elsewhere: tuple[Path, Path]
) -> None:
    gone, elsewhere = here_and_elsewhere
    gone.rmdir()
    result = probe(elsewhere)
    assert result.exit_code == 3, result.error


@pytest.mark.parametrize("where", ["here", "elsewhere"])
def test_a_program_starts_with_sigpipe_at_its_default(
    here_and_elsewhere: tuple[Path, Path], where: str
) -> None:
    # Python ignores SIGPIPE; a child must not inherit that, or `yes | head -1` makes
    # `yes` report write errors instead of ending quietly.
    cwd = here_and_elsewhere[0 if where == "here" else 1]
    step = Step(shell="yes | head -n 1")
    result = asyncio.run(run_step(step, {}, StepContext(cwd=cwd)))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "y\n", "")


def test_an_environment_string_over_128_kib_is_named_with_the_real_limit(tmp_path: Path) -> None:
    step = Step(shell="echo hello", env={"HUGE": "x" * 200_000})
    result = asyncio.run(run_step(step, {}, StepContext(cwd=tmp_path)))
    assert result.status == "failed"
    assert result.error is not None
    assert "the variable HUGE is 200006 bytes" in result.error
    assert "128 KiB (MAX_ARG_STRLEN)" in result.error


# A program that reports which signals it started with ignored (Linux: /proc) and ends.
_REPORT_IGNORED = """
import asyncio, signal, sys
from pathlib import Path
from mapreduce_fsm.commands import StepContext, run_step
from mapreduce_fsm.config.model import Step
signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as `nohup` leaves it
step = Step(shell="grep SigIgn /proc/self/status")
result = asyncio.run(run_step(step, {}, StepContext(cwd=Path.cwd())))
print(result.stdout.split()[1])
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_program_keeps_the_signals_its_starter_inherited_ignored_and_no_others(
    tmp_path: Path,
) -> None:
    # Only the signals ignored by the one who started us stay ignored (SIGHUP under nohup);
    # SIGPIPE and SIGXFSZ, which Python itself ignores, are back at their defaults.
    import signal
    import subprocess
    import sys

    report = subprocess.run([sys.executable, "-c", _REPORT_IGNORED], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=True)
    mask = int(report.stdout.strip(), 16)
    ignored = {n for n in signal.valid_signals() if mask >> (int(n) - 1) & 1}
    assert ignored == {signal.SIGHUP}  # (glibc's own internal signals are not valid_signals)
