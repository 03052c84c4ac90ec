"""Fixtures for the command-line tests: run `python -m mapreduce_fsm` in tmp_path, write files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple, Protocol

import pytest

# Subcommands that take --state-dir; the fixture adds it so no test touches a real state dir.
STATE_DIR_COMMANDS = frozenset(
    {"run", "resume", "jobs", "status", "stop", "clean", "events", "logs", "diagram"}
)
CLI_TIMEOUT_SECS = 90


class CliResult(NamedTuple):
    """How one `mapreduce-fsm` process ended; unpacks as (code, stdout, stderr)."""

    code: int
    stdout: str
    stderr: str


class Cli(Protocol):
    def __call__(self, *args: str, env: Mapping[str, str] | None = None,
                 state_dir: bool = True) -> CliResult: ...


def cli_command(args: tuple[str, ...], state_dir: Path | None) -> list[str]:
    command = [sys.executable, "-m", "mapreduce_fsm", *args]
    if state_dir is not None and args and args[0] in STATE_DIR_COMMANDS:
        command += ["--state-dir", str(state_dir)]
    return command


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without a state dir override, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name != "MAPREDUCE_FSM_HOME"}
    env.update(extra or {})
    return env


def start_cli(args: tuple[str, ...], cwd: Path, state_dir: Path | None, *,
              capture: bool = False) -> subprocess.Popen[str]:
    """`mapreduce-fsm ARGS` in the background in `cwd`; its output piped with `capture`,
    else dropped. The caller waits for it (or kills it)."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(cli_command(args, state_dir), cwd=cwd, env=cli_env(),
                            stdin=subprocess.DEVNULL, stdout=output, stderr=output, text=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def cli(tmp_path: Path, state_dir: Path) -> Cli:
    """Run the command line as a subprocess in tmp_path, stdin not a terminal."""
    root = state_dir

    def run(*args: str, env: Mapping[str, str] | None = None,
            state_dir: bool = True) -> CliResult:
        done = subprocess.run(
            cli_command(args, root if state_dir else None),
            cwd=tmp_path, env=cli_env(env), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=CLI_TIMEOUT_SECS, check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def write_workflow(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a workflow file (the text is dedented) into tmp_path; returns its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0,
             what: str = "the condition") -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def job_ids(state_dir: Path) -> list[str]:
    jobs = state_dir / "jobs"
    return sorted(path.name for path in jobs.iterdir()) if jobs.is_dir() else []
