"""A real `mapreduce-fsm run` killed (SIGKILL) or interrupted (SIGINT) mid-map, then resumed.

Each item's step appends the item to `ran.log`, so the test counts how often every item
really ran: an item whose result was in the journal when the run died never runs again,
every item ends with exactly one result, and the reduce runs once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state import JobStore
from tests.integration.conftest import Cli, cli_command, cli_env, wait_for

ITEMS = 60
JOB_ID = "killed"

WORKFLOW = """\
name: sigkill
map:
  input: items.json
  max_parallel: 4
  agent_template:
    - shell: "echo ${item} >> ran.log; sleep 0.1"
reduce:
  - shell: "echo ${map.successful} of ${map.total} >> reduce.log"
"""


def start_run(tmp_path: Path, state_dir: Path) -> subprocess.Popen[bytes]:
    """Start `run` in its own session, as a shell starts a foreground job."""
    (tmp_path / "items.json").write_text(json.dumps(list(range(ITEMS))), encoding="utf-8")
    (tmp_path / "sigkill.yml").write_text(WORKFLOW, encoding="utf-8")
    command = cli_command(("run", "sigkill.yml", "--job-id", JOB_ID, "--yes"), state_dir)
    with (tmp_path / "run.out").open("wb") as out, (tmp_path / "run.err").open("wb") as err:
        return subprocess.Popen(command, cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)


def journal_lines(state_dir: Path) -> list[str]:
    path = state_dir / "jobs" / JOB_ID / "results.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def stop_after_ten_results(process: subprocess.Popen[bytes], state_dir: Path,
                           signum: signal.Signals) -> int:
    """Send `signum` to the run's process group once ten items are done; its exit code."""
    wait_for(lambda: len(journal_lines(state_dir)) >= 10 or process.poll() is not None,
             timeout=60, what="ten item results")
    assert process.poll() is None, "the run ended before it could be stopped"
    os.killpg(process.pid, signum)
    return process.wait(timeout=60)


def runs_per_item(tmp_path: Path) -> Counter[str]:
    return Counter((tmp_path / "ran.log").read_text(encoding="utf-8").split())


def check_resumed_job(tmp_path: Path, state_dir: Path, done_before: set[str]) -> None:
    """Every item has one final result, written once; items done before never ran again."""
    store = JobStore(state_dir, JOB_ID)
    loaded = store.results.load()
    assert {result.item_id: result.status for result in loaded.results.values()} == {
        f"item-{index}": "success" for index in range(ITEMS)
    }
    lines = [json.loads(line)["item_id"] for line in journal_lines(state_dir)]
    assert sorted(lines) == sorted(loaded.results), "an item has more than one journal line"
    runs = runs_per_item(tmp_path)
    assert set(runs) == {str(index) for index in range(ITEMS)}
    items_by_id = {result.item_id: str(result.item) for result in loaded.results.values()}
    assert {items_by_id[item_id]: runs[items_by_id[item_id]] for item_id in done_before} == {
        items_by_id[item_id]: 1 for item_id in done_before
    }
    assert (tmp_path / "reduce.log").read_text(encoding="utf-8") == f"{ITEMS} of {ITEMS}\n"
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "completed"


def check_status_says_stopped(cli: Cli, state_dir: Path) -> None:
    """No process runs the job: status and jobs say where it stopped, nothing is in flight."""
    status = json.loads(cli("status", JOB_ID, "--json").stdout)
    assert (status["state"], status["running"], status["in_flight"]) == ("map", False, [])
    first_line = cli("status", JOB_ID).stdout.splitlines()[0]
    assert first_line.endswith(
        f": stopped in map; resume with: mapreduce-fsm resume {JOB_ID} --state-dir {state_dir}")
    assert "stopped in map" in cli("jobs").stdout


def test_sigkill_mid_map_then_resume_runs_only_the_unfinished_items(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    process = start_run(tmp_path, state_dir)
    code = stop_after_ten_results(process, state_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    # What the journal holds now is durable (a torn last line does not count).
    done_before = set(JobStore(state_dir, JOB_ID).results.load().results)
    assert 10 <= len(done_before) < ITEMS
    lock = json.loads((state_dir / "jobs" / JOB_ID / "lock").read_text(encoding="utf-8"))
    assert lock["pid"] == process.pid  # left behind by the dead process
    check_status_says_stopped(cli, state_dir)

    resumed = cli("resume", JOB_ID, "--yes")

    assert resumed.code == 0, resumed.stderr
    assert not (state_dir / "jobs" / JOB_ID / "lock").exists()
    assert f"left locked by process {process.pid}" in resumed.stderr
    taken = list(JobStore(state_dir, JOB_ID).events.read(types={"job.lock_taken_over"}))
    assert [event.data["previous_pid"] for event in taken] == [process.pid]
    check_resumed_job(tmp_path, state_dir, done_before)


def test_sigint_mid_map_exits_130_with_the_resume_command_and_resume_completes(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    process = start_run(tmp_path, state_dir)
    code = stop_after_ten_results(process, state_dir, signal.SIGINT)
    stderr = (tmp_path / "run.err").read_text(encoding="utf-8")
    assert code == 130, stderr
    assert f"mapreduce-fsm resume {JOB_ID}" in stderr
    assert "Traceback" not in stderr
    checkpoint = JobStore(state_dir, JOB_ID).load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "map"
    done_before = set(JobStore(state_dir, JOB_ID).results.load().results)
    assert 10 <= len(done_before) < ITEMS
    check_status_says_stopped(cli, state_dir)

    resumed = cli("resume", JOB_ID, "--yes")

    assert resumed.code == 0, resumed.stderr
    check_resumed_job(tmp_path, state_dir, done_before)


def saved_result_count(state_dir: Path) -> int:
    try:
        checkpoint = JobStore(state_dir, JOB_ID).load_checkpoint()
    except JobStateError:  # read while it was being replaced: not yet
        return 0
    return 0 if checkpoint is None else checkpoint.durable_results


def test_results_cut_from_the_journal_after_a_kill_stop_resume_until_force(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    process = start_run(tmp_path, state_dir)
    # The map saves the count of durable results while it runs, not only at its end.
    wait_for(lambda: saved_result_count(state_dir) >= 10 or process.poll() is not None,
             timeout=60, what="a checkpoint counting ten results")
    assert process.poll() is None, "the map ended before the checkpoint counted its results"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    saved = saved_result_count(state_dir)
    journal = state_dir / "jobs" / JOB_ID / "results.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[: saved // 2]))

    refused = cli("resume", JOB_ID, "--yes")

    assert refused.code == 2, refused.stderr
    assert f"holds {saved // 2} item results, but {saved} were saved" in refused.stderr
    assert str(journal) in refused.stderr
    assert "Traceback" not in refused.stderr
    resumed = cli("resume", JOB_ID, "--yes", "--force")
    assert resumed.code == 0, resumed.stderr
    assert f"{saved - saved // 2} item results are lost" in resumed.stderr
    loaded = JobStore(state_dir, JOB_ID).results.load().results
    assert len(loaded) == ITEMS
