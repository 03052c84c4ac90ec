"""Setup and reduce output on the console while the steps run, each line labelled; `-v` adds
stderr of succeeding steps live, a failing step's stderr shows once, `-q` shows none of it."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, cli_command, cli_env

WriteWorkflow = Callable[[str, str], Path]
WAIT_SECS = 60
# Waits until the test creates the file `go` (or 60 s pass: the run then fails).
WAIT_FOR_GO = "i=0; while [ ! -f go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; test -f go"


def run_until_line_then_go(args: list[str], cwd: Path, state_dir: Path, expected: str,
                           env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start the CLI, read its stderr until the line `expected` appears, only then create
    `go`; its exit code and whole stderr. Fails (and kills it) if the line does not come
    while the run is still waiting."""
    process = subprocess.Popen(
        cli_command(("run", *args), state_dir), cwd=cwd, env=cli_env(env),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + WAIT_SECS
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"no line {expected!r} within {WAIT_SECS}s; stderr: {''.join(seen)}")
            if line is None:
                pytest.fail(f"the run ended before {expected!r} was seen (so it was not live):"
                            f"\n{''.join(seen)}")
            seen.append(line)
            if line.rstrip("\n") == expected:
                break
        (cwd / "go").touch()
        code = process.wait(timeout=WAIT_SECS)
        reader.join(timeout=WAIT_SECS)
        while (line := lines.get_nowait() if not lines.empty() else None) is not None:
            seen.append(line)
        return code, "".join(seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_setup_output_is_shown_while_the_step_runs(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("live.yml", f"""
        name: live
        setup:
          - shell: "echo first; {WAIT_FOR_GO}; echo second"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    code, stderr = run_until_line_then_go([str(workflow), "--yes"], tmp_path, state_dir,
                                          "[setup 1/1] first")
    assert code == 0, stderr
    assert stderr.count("[setup 1/1] first\n") == 1  # not printed again when the step ended
    assert stderr.count("[setup 1/1] second\n") == 1


def test_reduce_output_is_shown_while_the_step_runs(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("live.yml", f"""
        name: live
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo done ${{map.successful}}"
          - shell: "printf 'first'; echo ' of two'; {WAIT_FOR_GO}; printf 'no newline'"
        """)
    code, stderr = run_until_line_then_go([str(workflow), "--yes"], tmp_path, state_dir,
                                          "[reduce 2/2] first of two")
    assert code == 0, stderr
    assert stderr.count("[reduce 1/2] done 2\n") == 1
    assert stderr.count("[reduce 2/2] first of two\n") == 1
    assert stderr.count("[reduce 2/2] no newline\n") == 1  # the partial last line, at the end


def test_verbose_shows_stderr_of_a_succeeding_step_live_and_without_it_is_not_shown(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("live.yml", f"""
        name: live
        setup:
          - shell: "echo note >&2; {WAIT_FOR_GO}; echo out"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    code, stderr = run_until_line_then_go([str(workflow), "--yes", "-v"], tmp_path,
                                          state_dir, "[setup 1/1] note")
    assert code == 0, stderr
    assert stderr.count("[setup 1/1] note\n") == 1 and "[setup 1/1] out\n" in stderr
    code, _, stderr = cli("run", str(workflow), "--yes")  # `go` exists: it does not wait
    assert code == 0, stderr
    assert "[setup 1/1] out\n" in stderr and "note" not in stderr


FAILING = """
    name: failing
    secrets:
      TOKEN: {env: LIVE_TOKEN}
    setup:
      - shell: "echo using $TOKEN; echo oops $TOKEN >&2; exit 3"
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """


@pytest.mark.parametrize("flags", [(), ("-v",)])
def test_a_failing_steps_stderr_is_shown_once_and_secrets_are_masked(
    cli: Cli, write_workflow: WriteWorkflow, flags: tuple[str, ...]
) -> None:
    workflow = write_workflow("failing.yml", FAILING)
    code, _, stderr = cli("run", str(workflow), "--yes", *flags,
                          env={"LIVE_TOKEN": "tok-8d1e4f"})
    assert code != 0
    assert stderr.count("[setup 1/1] using ***\n") == 1
    assert stderr.count("[setup 1/1] oops ***\n") == 1
    assert "tok-8d1e4f" not in stderr


def test_a_secret_is_masked_in_a_line_streamed_while_the_step_runs(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("secret.yml", f"""
        name: secret
        secrets:
          TOKEN: {{env: LIVE_TOKEN}}
        setup:
          - shell: "echo token is $TOKEN; echo warn $TOKEN >&2; {WAIT_FOR_GO}"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    code, stderr = run_until_line_then_go([str(workflow), "--yes", "-v"], tmp_path,
                                          state_dir, "[setup 1/1] token is ***",
                                          env={"LIVE_TOKEN": "tok-8d1e4f"})
    assert code == 0, stderr
    assert "[setup 1/1] warn ***\n" in stderr
    assert "tok-8d1e4f" not in stderr


def test_quiet_shows_no_step_output(cli: Cli, write_workflow: WriteWorkflow) -> None:
    workflow = write_workflow("quiet.yml", """
        name: quiet
        setup:
          - shell: "echo from-setup; echo setup-err >&2"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo from-reduce"
        """)
    code, _, stderr = cli("run", str(workflow), "--yes")
    assert "[setup 1/1] from-setup\n" in stderr and "[reduce 1/1] from-reduce\n" in stderr
    code, _, stderr = cli("run", str(workflow), "--yes", "-q")
    assert code == 0, stderr
    for text in ("from-setup", "setup-err", "from-reduce"):
        assert text not in stderr, text


def test_a_long_line_read_in_one_big_chunk_comes_in_pieces_of_at_most_64_kib(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    # The pipe can hand over far more than 64 KiB in one read: each piece was all of it but
    # a secret's length, hundreds of KiB on one console line.
    workflow = write_workflow("long.yml", """
        name: long
        secrets:
          TOKEN: {env: LIVE_TOKEN}
        setup:
          - shell: "head -c 5000000 /dev/zero | tr '\\\\0' a; printf $TOKEN; printf tail"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    code, _, stderr = cli("run", str(workflow), "--yes", env={"LIVE_TOKEN": "tok-8d1e4f"})
    assert code == 0, stderr[-2000:]
    pieces = [line.removeprefix("[setup 1/1] ") for line in stderr.splitlines()
              if line.startswith("[setup 1/1] ")]
    assert "".join(pieces) == "a" * 5000000 + "***tail"
    assert max(len(piece) for piece in pieces) <= 65536


def test_a_run_with_stderr_closed_completes_and_its_summary_reaches_stdout(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    # `mapreduce-fsm run ... 2>&-`: Python then has no sys.stderr, and the run ended with
    # "internal error: 'NoneType' object has no attribute 'isatty'" (said to no one), exit 1.
    workflow = write_workflow("closed.yml", """
        name: closed
        setup:
          - shell: "echo from-setup; echo setup-err >&2"
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo from-reduce"
        """)
    command = cli_command(("run", str(workflow), "--yes", "--json", "--job-id", "closed"),
                          state_dir)
    done = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", *command], cwd=tmp_path,
                          env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=WAIT_SECS, check=False)
    assert done.returncode == 0, done.stdout
    assert '"completed"' in done.stdout
    assert "from-setup" not in done.stdout  # the console's lines went nowhere, not to stdout


def test_a_run_whose_stderr_reader_goes_away_runs_on_to_its_own_exit_code(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    # `mapreduce-fsm run ... 2>&1 | head -1`: the next console line met a broken pipe, the
    # setup step was stopped and click ended the process with 1, no message, job 'stopped'.
    workflow = write_workflow("gone.yml", """
        name: gone
        setup:
          - shell: "sleep 0.5; for i in 1 2 3 4 5; do echo line $i; done"
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo from-reduce"
        """)
    process = subprocess.Popen(
        cli_command(("run", str(workflow), "--yes", "--job-id", "gone"), state_dir),
        cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith(b"job gone: running")
        process.stderr.close()  # the reader goes away, as `head -1` does
        code = process.wait(timeout=WAIT_SECS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0
    _, stdout, _ = cli("status", "gone", "--json")
    assert '"state": "completed"' in stdout


def test_the_output_of_a_setup_step_stopped_by_ctrl_c_is_kept_in_the_logs(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    # It was shown on the console, but `logs JOB setup` had nothing: a step's output was
    # kept only once the step had ended.
    workflow = write_workflow("stopped.yml", f"""
        name: stopped
        setup:
          - shell: "echo done-step"
          - shell: "echo whole-line; echo to-stderr >&2; printf partial; {WAIT_FOR_GO}"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    process = subprocess.Popen(
        cli_command(("run", str(workflow), "--yes", "--job-id", "stopped"), state_dir),
        cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line == "[setup 2/2] whole-line\n":
                break
        process.send_signal(signal.SIGINT)
        process.stderr.read()
        code = process.wait(timeout=WAIT_SECS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 130
    code, stdout, stderr = cli("logs", "stopped", "setup")
    assert code == 0, stderr
    assert "done-step" in stdout
    step_2 = stdout[stdout.index("step 2"):]
    assert "interrupted" in step_2.splitlines()[0]
    assert "whole-line\npartial" in step_2 and "to-stderr" in step_2
