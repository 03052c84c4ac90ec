"""A runner killed (SIGKILL) while its items run leaves their ITEM_JSON_FILE directory in the
temp dir; the job's next `resume` (or its `clean`) removes it, so nothing stays in $TMPDIR."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, cli_command, cli_env, wait_for
from tests.process_scan import kill_marked

JOB_ID = "leaky"


def workflow(marker: str) -> str:
    return f"""\
name: leaky
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: >-
        : {marker}; cp "$ITEM_JSON_FILE" copy-${{item}}.json;
        test -e fast || sleep 30
"""


def leftovers(temp: Path) -> list[str]:
    return sorted(entry.name for entry in temp.iterdir())


@pytest.fixture
def killed_run(tmp_path: Path, state_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A run killed while both its items' steps read ITEM_JSON_FILE; the temp dir it used."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    marker = f"leaky-test-{uuid.uuid4().hex}"
    (tmp_path / "items.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    (tmp_path / "leaky.yml").write_text(workflow(marker), encoding="utf-8")
    command = cli_command(("run", "leaky.yml", "--job-id", JOB_ID, "--yes"), state_dir)
    runner = subprocess.Popen(command, cwd=tmp_path, env=cli_env(env), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(lambda: len(list(tmp_path.glob("copy-*.json"))) == 2, timeout=60,
                 what="both items' steps started")
        runner.kill()
        runner.wait(timeout=30)
        kill_marked(marker)  # the steps it left (resume would end them too)
        assert any(name.startswith("mapreduce-fsm-") for name in leftovers(temp))
        (tmp_path / "fast").touch()
        yield temp, env
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
        kill_marked(marker)


def test_resume_removes_the_item_files_a_killed_run_left(
        cli: Cli, killed_run: tuple[Path, dict[str, str]]) -> None:
    temp, env = killed_run

    resumed = cli("resume", JOB_ID, "--yes", env=env)

    assert resumed.code == 0, resumed.stderr
    assert leftovers(temp) == []


def test_clean_removes_the_item_files_a_killed_run_left(
        cli: Cli, killed_run: tuple[Path, dict[str, str]]) -> None:
    temp, env = killed_run

    cleaned = cli("clean", JOB_ID, env=env)

    assert cleaned.code == 0, cleaned.stderr
    assert leftovers(temp) == []
