"""A job whose checkpoint or event log was damaged: a clear message, or a warning and on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Cli

WriteWorkflow = Callable[[str, str], Path]

# Setup's first step counts its runs; its second fails until `go` exists: the job fails in
# setup with next_step 1, and a resume after `touch go` finishes it.
COUNTED_SETUP = """
    name: counted
    setup:
      - shell: "echo run >> setup-runs.txt"
      - shell: "test -f go"
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "true"
    """


@pytest.fixture
def failed_in_setup(cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path) -> Path:
    """A job `c-1` failed at setup's second step; returns its checkpoint file."""
    workflow = write_workflow("counted.yml", COUNTED_SETUP)
    assert cli("run", str(workflow), "--job-id", "c-1").code == 1
    (tmp_path / "go").touch()
    return tmp_path / "state" / "jobs" / "c-1" / "checkpoint.json"


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _clean_refusal(code: int, stderr: str, *named: str) -> None:
    assert code == 2, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    for text in named:
        assert text in stderr, stderr


def test_an_unknown_state_is_refused_naming_the_file_and_the_field(
    cli: Cli, failed_in_setup: Path, tmp_path: Path
) -> None:
    _edit(failed_in_setup, lambda data: data.update(state="exploded"))
    code, _, stderr = cli("resume", "c-1")
    _clean_refusal(code, stderr, str(failed_in_setup), "state", "'exploded'")
    code, _, stderr = cli("status", "c-1")
    _clean_refusal(code, stderr, str(failed_in_setup), "state", "'exploded'")
    assert (tmp_path / "setup-runs.txt").read_text().count("run") == 1


@pytest.mark.parametrize("next_step", [-1, 10**30])
def test_a_step_index_out_of_range_runs_nothing_and_names_the_field(
    cli: Cli, failed_in_setup: Path, tmp_path: Path, next_step: int
) -> None:
    _edit(failed_in_setup, lambda data: data["phases"]["setup"].update(next_step=next_step))
    code, _, stderr = cli("resume", "c-1")
    _clean_refusal(code, stderr, str(failed_in_setup), "next_step")
    assert (tmp_path / "setup-runs.txt").read_text().count("run") == 1  # no step ran again
    assert json.loads(failed_in_setup.read_text())["state"] == "failed"


def test_the_last_step_index_is_in_range(cli: Cli, failed_in_setup: Path, tmp_path: Path) -> None:
    _edit(failed_in_setup, lambda data: data["phases"]["setup"].update(next_step=2))
    assert cli("resume", "c-1").code == 0  # setup was done: on to the map
    assert (tmp_path / "setup-runs.txt").read_text().count("run") == 1


@pytest.mark.parametrize("command", [("resume", "c-1"), ("status", "c-1"), ("jobs",)])
def test_a_checkpoint_without_format_version_is_refused(
    cli: Cli, failed_in_setup: Path, command: tuple[str, ...]
) -> None:
    _edit(failed_in_setup, lambda data: data.pop("format_version"))
    code, stdout, stderr = cli(*command)
    if command == ("jobs",):  # the list goes on, the job says what is wrong with it
        assert code == 0 and "format_version" in stdout
    else:
        _clean_refusal(code, stderr, str(failed_in_setup), "format_version")


@pytest.mark.parametrize("where", ["middle", "last"])
def test_a_corrupt_event_line_is_skipped_with_a_warning(
    cli: Cli, failed_in_setup: Path, where: str
) -> None:
    events = failed_in_setup.parent / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    at = len(lines) // 2 if where == "middle" else len(lines)
    lines.insert(at, "garbage {not json\n")
    events.write_text("".join(lines), encoding="utf-8")
    where_named = f"{events}:{at + 1}"

    code, stdout, stderr = cli("status", "c-1")
    # No process runs the job, so status does not even read the log (nothing is in flight).
    assert (code, stderr) == (0, "") and "c-1" in stdout

    code, stdout, stderr = cli("events", "c-1")
    assert code == 0, stderr
    assert where_named in stderr
    assert len(stdout.splitlines()) == len(lines) - 1  # every other event is shown

    code, _, stderr = cli("resume", "c-1")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    seqs = [event["seq"] for event in map(json.loads, events.read_text().splitlines()[at + 1:])
            if event]
    after = [json.loads(line)["seq"] for line in lines if not line.startswith("garbage")]
    assert seqs[-1] > max(after)  # numbering goes on after the skipped line


def test_dlq_retry_refuses_a_checkpoint_with_an_unknown_state(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("one_fails.yml", """
        name: one-fails
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: "echo ran >> runs-${item}.txt; test ${item} -ne 2"
        error_policy:
          on_item_failure: dlq
          continue_on_failure: true
        """)
    assert cli("run", str(workflow), "--job-id", "d-1").code in (0, 4)
    checkpoint = tmp_path / "state" / "jobs" / "d-1" / "checkpoint.json"
    _edit(checkpoint, lambda data: data.update(state="exploded"))
    code, _, stderr = cli("dlq", "retry", "d-1", "-y", "--state-dir", str(tmp_path / "state"),
                          state_dir=False)
    _clean_refusal(code, stderr, str(checkpoint), "state", "'exploded'")
    assert (tmp_path / "runs-2.txt").read_text().count("ran") == 1
