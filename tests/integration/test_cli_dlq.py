"""`mapreduce-fsm dlq ...` as a user runs it: list, show, retry, purge, export, and their errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce_fsm.jobs.run import run_workflow
from mapreduce_fsm.state import JobStore

# Items fail (exit 3) until a file named ok-<item> exists; reduce appends a line to a log.
WORKFLOW = """\
name: dlq-cli
map:
  input: items.json
  agent_template:
    - shell: "test -e ok-${item} || { echo no marker for ${item} >&2; exit 3; }"
      name: check
reduce:
  - shell: "echo reduced >> reduce.log"
error_policy:
  on_item_failure: dlq
"""


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapreduce_fsm", *args, "--state-dir", str(cwd / "state")],
        cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def make_job(directory: Path, workflow: str = WORKFLOW) -> Path:
    """Run a job `j` over items a, b, c where only a succeeds: b and c are dead-lettered.

    The job is made in-process (the `run` command has its own tests); only the `dlq`
    commands under test run as subprocesses.
    """
    (directory / "wf.yml").write_text(workflow, encoding="utf-8")
    (directory / "items.json").write_text('["a", "b", "c"]', encoding="utf-8")
    (directory / "ok-a").touch()
    asyncio.run(run_workflow(directory / "wf.yml", job_id="j", state_dir=directory / "state",
                             working_dir=directory, environ={}))
    return directory


def dead_lettered(directory: Path) -> dict[str, int]:
    """Item id -> number of attempts in its history, read from the job's DLQ."""
    entries = JobStore.open(directory / "state", "j").dlq.load()
    return {entry.item_id: len(entry.attempts) for entry in entries}


@pytest.fixture(scope="module")
def ended_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job for the commands that only read; nothing may change it."""
    return make_job(tmp_path_factory.mktemp("ended"))


def test_list_groups_entries_by_signature_and_counts_them(ended_job: Path) -> None:
    done = cli(ended_job, "dlq", "list", "j")
    assert done.returncode == 0, done.stderr
    assert 'step "check": exit 3' in done.stdout
    assert "item-1" in done.stdout and "item-2" in done.stdout
    assert "no marker for c" in done.stdout  # the last error of its group
    assert done.stdout.rstrip().endswith("2 dead-lettered items, 2 kinds of failure")


def test_list_json_gives_one_object_per_entry(ended_job: Path) -> None:
    done = cli(ended_job, "dlq", "list", "j", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["item_id"], r["item_index"], r["attempts"]) for r in rows] == [
        ("item-1", 1, 1), ("item-2", 2, 1)]
    assert rows[0]["last_error"] == "step 'check': exited with code 3: no marker for b"
    assert set(rows[0]) == {"item_id", "item_index", "signature", "attempts", "last_error",
                            "added_at"}


def test_show_prints_the_item_and_every_attempt(ended_job: Path) -> None:
    done = cli(ended_job, "dlq", "show", "j", "item-1")
    assert done.returncode == 0, done.stderr
    assert '  "b"' in done.stdout
    assert "attempt 1: failed at " in done.stdout
    assert "exit code 3, failed step check" in done.stdout
    assert "    stderr tail:\n      no marker for b" in done.stdout
    as_json = cli(ended_job, "dlq", "show", "j", "item-1", "--json")
    entry = json.loads(as_json.stdout)
    assert (entry["item"], len(entry["attempts"]), entry["attempts"][0]["exit_code"]) == (
        "b", 1, 3)


def test_an_unknown_job_or_item_exits_2_naming_what_exists(ended_job: Path) -> None:
    job = cli(ended_job, "dlq", "list", "k")
    assert job.returncode == 2
    assert "no job k in" in job.stderr and "Traceback" not in job.stderr
    item = cli(ended_job, "dlq", "show", "j", "item-9")
    assert item.returncode == 2
    assert "no dead-letter entry for 'item-9'" in item.stderr
    assert "the 2 dead-lettered items are: item-1, item-2" in item.stderr
    # The command it points to finds the job: this state dir is not the default one.
    assert f"see `mapreduce-fsm dlq list j --state-dir {ended_job / 'state'}`" in item.stderr


def test_export_writes_json_and_csv_and_refuses_other_formats(ended_job: Path,
                                                              tmp_path: Path) -> None:
    as_json = cli(ended_job, "dlq", "export", "j", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert [e["item_id"] for e in json.loads(as_json.stdout)] == ["item-1", "item-2"]
    target = tmp_path / "dlq.csv"
    as_csv = cli(ended_job, "dlq", "export", "j", "--format", "csv", "-o", str(target))
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [(r["item_id"], r["last_exit_code"], r["failed_step"], r["item_json"])
            for r in rows] == [("item-1", "3", "check", '"b"'), ("item-2", "3", "check", '"c"')]
    bad = cli(ended_job, "dlq", "export", "j", "--format", "xml")
    assert bad.returncode == 2
    assert "'xml' is not one of 'json', 'csv'" in bad.stderr


def test_purge_removes_given_items_then_all(tmp_path: Path) -> None:
    make_job(tmp_path)
    one = cli(tmp_path, "dlq", "purge", "j", "--item", "item-2")
    assert (one.returncode, one.stdout.strip()) == (0, "purged 1 dead-letter entry from job j")
    unknown = cli(tmp_path, "dlq", "purge", "j", "--item", "item-2")
    assert unknown.returncode == 2 and "no dead-letter entry for 'item-2'" in unknown.stderr
    unasked = cli(tmp_path, "dlq", "purge", "j")  # no terminal to ask on, no --yes
    assert unasked.returncode == 2 and "needs --yes when there is no terminal" in (
        unasked.stderr)
    assert dead_lettered(tmp_path) == {"item-1": 1}
    rest = cli(tmp_path, "dlq", "purge", "j", "--yes")
    assert (rest.returncode, rest.stdout.strip()) == (0, "purged 1 dead-letter entry from job j")
    assert dead_lettered(tmp_path) == {}


def test_retry_of_a_fixed_item_completes_and_reduces_again(tmp_path: Path) -> None:
    make_job(tmp_path)
    (tmp_path / "ok-b").touch()
    done = cli(tmp_path, "dlq", "retry", "j", "--item", "item-1")
    assert done.returncode == 4, done.stderr  # item-2 is still dead-lettered
    assert "reduce will run again" in done.stderr
    assert "retried 1: 1 succeeded and left the dead-letter queue, 0 still dead-lettered" in (
        done.stderr)
    assert "map: finished 3/3 (1 failed)" in done.stderr  # item-2, from the first run
    assert dead_lettered(tmp_path) == {"item-2": 1}
    results = [json.loads(line) for line in
               (tmp_path / "state/jobs/j/results.jsonl").read_text().splitlines()]
    assert {r["item_id"]: r["status"] for r in results} == {
        "item-0": "success", "item-1": "success", "item-2": "failed"}
    assert (tmp_path / "reduce.log").read_text().splitlines() == ["reduced", "reduced"]


def test_retry_of_an_item_that_fails_again_keeps_two_attempts(tmp_path: Path) -> None:
    make_job(tmp_path)
    done = cli(tmp_path, "dlq", "retry", "j", "--item", "item-2", "--yes")
    assert done.returncode == 4, done.stderr
    assert "0 succeeded and left the dead-letter queue, 1 still dead-lettered" in done.stderr
    entry = JobStore.open(tmp_path / "state", "j").dlq.get("item-2")
    assert entry is not None and [a.attempt for a in entry.attempts] == [1, 2]


def test_retry_exits_1_when_the_job_fails_again_and_0_once_fixed(tmp_path: Path) -> None:
    workflow = WORKFLOW.replace('echo reduced >> reduce.log', 'test -e reduce-ok')
    make_job(tmp_path, workflow)  # reduce fails: the job ends failed
    failed = cli(tmp_path, "dlq", "retry", "j", "--yes")
    assert failed.returncode == 1, failed.stderr
    assert "job j failed in reduce: step 'test -e reduce-ok'" in failed.stderr
    assert f"resume with: mapreduce-fsm resume j --state-dir {tmp_path / 'state'}" in (
        failed.stderr)
    for name in ("ok-b", "ok-c", "reduce-ok"):
        (tmp_path / name).touch()
    fixed = cli(tmp_path, "dlq", "retry", "j", "--yes")
    assert fixed.returncode == 0, fixed.stderr
    assert "retried 2: 2 succeeded" in fixed.stderr
    store = JobStore.open(tmp_path / "state", "j")
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "completed"
    assert {r.status for r in store.results.load().results.values()} == {"success"}
    assert dead_lettered(tmp_path) == {}
    empty = cli(tmp_path, "dlq", "retry", "j")
    assert empty.returncode == 0 and "no dead-lettered items to retry" in empty.stderr
