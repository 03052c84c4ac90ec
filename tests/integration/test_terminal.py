"""The command line on a real terminal (a pseudo-terminal): the progress bar, the reduce
question and the purge question, answered "n", "y" or with Ctrl-D, as a person would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import cli_command, cli_env

QUESTION = b"Reduce over the 2 successful results? [Y/n]"
CTRL_D = b"\x04"  # end of input at the start of a line, in the terminal's line mode
CTRL_C = b"\x03"  # the terminal sends SIGINT to the foreground process group
TERMINAL_SECS = 60
# Ctrl-C must end the command at once; this only bounds a hang (a blocked prompt waits
# for Enter forever), it is no measure of speed.
AFTER_CTRL_C_SECS = 20

ONE_OF_THREE_FAILS = """
    name: asks
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "test ${item} -ne 2"
    reduce:
      - shell: "echo ${map.successful} > reduced.txt"
    """


def _take_the_terminal() -> None:
    """In the child, after setsid: make the pseudo-terminal its controlling terminal, so
    that Ctrl-C typed on it sends SIGINT, as on a real terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_in_terminal(args: tuple[str, ...], tmp_path: Path, state_dir: Path | None,
                    answer: bytes, question: bytes = QUESTION,
                    after_answer_secs: float = TERMINAL_SECS) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as stdin, stdout and stderr; type
    `answer` when `question` shows; the command must end within `after_answer_secs` of
    it. Returns the exit code and all it printed."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        cli_command(args, state_dir), cwd=tmp_path,
        env=cli_env({"TERM": "xterm-256color", "COLUMNS": "120"}),
        stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
        preexec_fn=_take_the_terminal,
    )
    os.close(terminal)
    output, answered = bytearray(), False
    deadline = time.monotonic() + TERMINAL_SECS
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the process closed its side of the terminal
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            if not answered and question in output:
                os.write(controller, answer)
                answered = True
                deadline = min(deadline, time.monotonic() + after_answer_secs)
        else:
            pytest.fail(f"no end in time; printed:\n{output.decode()}")
        return process.wait(timeout=30), output.decode("utf-8", errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


@pytest.fixture
def workflow(write_workflow: Callable[[str, str], Path]) -> Path:
    return write_workflow("asks.yml", ONE_OF_THREE_FAILS)


def test_no_pauses_the_job_and_a_resume_answered_yes_reduces(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    code, printed = run_in_terminal(("run", str(workflow), "--job-id", "t-1"), tmp_path,
                                    state_dir, b"n\n")
    assert code == 3, printed
    assert "\x1b[" in printed and "items/s" in printed  # the rich progress bar was drawn
    assert "job t-1 paused; resume with: mapreduce-fsm resume t-1" in printed
    assert not (tmp_path / "reduced.txt").exists()

    code, printed = run_in_terminal(("resume", "t-1"), tmp_path, state_dir, b"y\n")
    assert code == 4, printed  # completed, but item 2 failed
    assert QUESTION.decode() in printed
    assert (tmp_path / "reduced.txt").read_text() == "2\n"


def test_ctrl_d_at_the_question_pauses_the_job_and_points_at_yes(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    code, printed = run_in_terminal(("run", str(workflow), "--job-id", "t-2"), tmp_path,
                                    state_dir, CTRL_D)
    assert code == 3, printed
    assert "taken as no. Run with --yes" in " ".join(printed.split())
    assert "Traceback" not in printed
    assert not (tmp_path / "reduced.txt").exists()


def test_declining_to_purge_the_whole_dlq_exits_3_and_keeps_it(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    code, _ = run_in_terminal(("run", str(workflow), "--job-id", "t-3"), tmp_path, state_dir,
                              b"y\n")
    assert code == 4  # completed, item 2 dead-lettered
    purge = ("dlq", "purge", "t-3", "--state-dir", str(state_dir))
    question = b"Remove all 1 dead-letter entries of job t-3?"
    code, printed = run_in_terminal(purge, tmp_path, None, b"n\n", question)
    assert code == 3, printed
    assert "nothing purged" in printed
    assert (state_dir / "jobs" / "t-3" / "dlq.jsonl").read_text().strip()


def test_ctrl_c_at_the_reduce_question_exits_130_at_once_and_records_no_answer(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    code, printed = run_in_terminal(("run", str(workflow), "--job-id", "t-4"), tmp_path,
                                    state_dir, CTRL_C, after_answer_secs=AFTER_CTRL_C_SECS)
    assert code == 130, printed
    assert "job t-4 interrupted in reduce; resume with: mapreduce-fsm resume t-4" in printed
    assert "Traceback" not in printed
    events = (state_dir / "jobs" / "t-4" / "events.jsonl").read_text()
    assert "reduce.confirmation" not in events  # no answer was given, none is recorded
    assert "job.interrupted" in events
    assert not (tmp_path / "reduced.txt").exists()

    code, printed = run_in_terminal(("resume", "t-4"), tmp_path, state_dir, b"y\n")
    assert code == 4, printed  # asked again, answered, reduced; item 2 failed
    assert (tmp_path / "reduced.txt").read_text() == "2\n"


def test_ctrl_c_at_the_dlq_retry_question_exits_130_and_retries_nothing(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    run_in_terminal(("run", str(workflow), "--job-id", "t-5"), tmp_path, state_dir, b"y\n")
    retry = ("dlq", "retry", "t-5", "--state-dir", str(state_dir))
    code, printed = run_in_terminal(retry, tmp_path, None, CTRL_C,
                                    b"then re-run reduce? [Y/n]", AFTER_CTRL_C_SECS)
    assert code == 130, printed
    assert "Traceback" not in printed
    assert (state_dir / "jobs" / "t-5" / "dlq.jsonl").read_text().strip()
    # The job never moved: it is not "interrupted in completed" and has nothing to resume.
    assert "interrupted: nothing retried; job t-5 is unchanged" in printed
    assert "resume" not in printed.split("[Y/n]", 1)[1]


def test_ctrl_c_at_the_purge_question_exits_130_and_keeps_the_dlq(
    workflow: Path, tmp_path: Path, state_dir: Path
) -> None:
    run_in_terminal(("run", str(workflow), "--job-id", "t-6"), tmp_path, state_dir, b"y\n")
    purge = ("dlq", "purge", "t-6", "--state-dir", str(state_dir))
    code, printed = run_in_terminal(purge, tmp_path, None, CTRL_C,
                                    b"Remove all 1 dead-letter entries of job t-6?",
                                    AFTER_CTRL_C_SECS)
    assert code == 130, printed
    assert "interrupted" in printed and "Traceback" not in printed
    assert (state_dir / "jobs" / "t-6" / "dlq.jsonl").read_text().strip()


def test_ctrl_c_at_the_merge_question_exits_130_at_once_and_records_no_answer(
    tmp_path: Path
) -> None:
    from tests.git.repos import git, make_repo

    repo = make_repo(tmp_path / "repo", {
        ".gitignore": "state/\n",
        "wf.yml": """
name: merges
map:
  input: "echo '[1, 2]'"
  agent_template:
    - shell: "echo ${item} > f${item}.txt && git add f${item}.txt && git commit -qm f${item}"
""",
    })
    state_dir = repo / "state"
    code, printed = run_in_terminal(
        ("run", "wf.yml", "--job-id", "m-1", "--isolation", "worktree"), repo, state_dir,
        CTRL_C, b"into main? [Y/n]", AFTER_CTRL_C_SECS)
    assert code == 130, printed
    assert "job m-1 interrupted in merge; resume with: mapreduce-fsm resume m-1" in printed
    events = (state_dir / "jobs" / "m-1" / "events.jsonl").read_text()
    assert "merge.confirmation" not in events  # no answer was given, none is recorded
    assert not (repo / "f1.txt").exists()  # nothing was merged
    assert git(repo, "status", "--porcelain") == ""
