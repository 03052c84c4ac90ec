"""Each command reads and validates the workflow file once, however many checks it makes."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.cli.main import main
from mapreduce_fsm.config.yamlsource import read_yaml

WORKFLOW = """
name: counted
secrets:
  TOKEN: { env: MRF_LOADS_TOKEN }
map:
  input: "printf '%s\\\\n' a b"
  agent_template:
    - shell: "echo ${item}"
reduce:
  - shell: "echo ${map.successful} > count.txt"
"""


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file names the loader parsed, in order: every load parses the YAML once."""
    parsed: list[str] = []

    def counting(text: str, filename: str) -> Any:
        parsed.append(filename)
        return read_yaml(text, filename)

    monkeypatch.setattr("mapreduce_fsm.config.loader.read_yaml", counting)
    return parsed


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., int]]:
    """`mapreduce-fsm ARGS` in this process; returns its exit code. `main` sets signal
    handlers for the whole process, so they are put back afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MRF_LOADS_TOKEN", "t0ken")
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def run(*args: str) -> int:
        with pytest.raises(SystemExit) as ended:
            main(list(args))
        return int(ended.value.code or 0)

    yield run
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("command", [
    ("run", "--yes", "--job-id", "counted-1", "--state-dir", "state"),
    ("run", "--dry-run"),
    ("validate",),
])
def test_a_command_loads_the_workflow_file_exactly_once(
    command: tuple[str, ...], tmp_path: Path, loads: list[str],
    in_process: Callable[..., int],
) -> None:
    (tmp_path / "counted.yml").write_text(WORKFLOW, encoding="utf-8")
    name, *flags = command
    assert in_process(name, "counted.yml", *flags) == 0
    assert loads == ["counted.yml"]
    if "--job-id" in flags:  # the run really ran, with its secret checked
        assert (tmp_path / "count.txt").read_text() == "2\n"
        assert (tmp_path / "state" / "jobs" / "counted-1" / "workflow.yml").is_file()
