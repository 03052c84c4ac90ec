"""`jobs`, `status`, `events` and `diagram` as a user runs them, over real job directories."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, start_cli, wait_for

WriteWorkflow = Callable[[str, str], Path]

ONE_FAILS = """
    name: one-fails
    setup:
      - shell: "echo '[1, 2, 3]' > items.json"
    map:
      input: items.json
      agent_template:
        - shell: "test ${item} -ne 2"
    reduce:
      - shell: "echo reduced"
    error_policy:
      on_item_failure: dlq
      continue_on_failure: true
    """

SETUP_FAILS = """
    name: setup-fails
    setup:
      - name: never works
        shell: "exit 3"
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """


@pytest.fixture
def finished_job(cli: Cli, write_workflow: WriteWorkflow) -> str:
    """A completed job with 2 successes and 1 dead-lettered failure."""
    workflow = write_workflow("one_fails.yml", ONE_FAILS)
    assert cli("run", str(workflow), "--job-id", "mixed-1").code == 4  # an item failed
    return "mixed-1"


def test_jobs_lists_each_job_with_its_state_and_counts(
    cli: Cli, write_workflow: WriteWorkflow, finished_job: str
) -> None:
    assert cli("run", str(write_workflow("sf.yml", SETUP_FAILS)), "--job-id", "sf-1").code == 1
    code, stdout, _ = cli("jobs")
    assert code == 0
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in stdout.splitlines() if line.startswith("│")}
    assert rows["mixed-1"][:5] == ["one-fails", "completed", "2", "1", "3"]
    assert rows["sf-1"][:5] == ["setup-fails", "failed", "0", "0", "-"]
    code, stdout, _ = cli("jobs", "--json")
    by_id = {row["job_id"]: row for row in map(json.loads, stdout.splitlines())}
    assert (by_id["mixed-1"]["ok"], by_id["mixed-1"]["failed"], by_id["mixed-1"]["total"]) == (
        2, 1, 3)


def test_a_job_whose_map_had_no_items_counts_zero_items_not_unknown(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    # Before, `jobs` showed total "-" (null in --json) beside ok 0 and failed 0, as for a
    # job whose map had not loaded its items yet.
    empty = write_workflow("empty.yml", """
        name: empty
        map:
          input: "echo '[]'"
          agent_template:
            - shell: "true"
        """)
    assert cli("run", str(empty), "--job-id", "empty-1").code == 0
    code, stdout, _ = cli("jobs", "--json")
    row = json.loads(stdout.splitlines()[0])
    assert code == 0 and (row["state"], row["ok"], row["failed"], row["total"]) == (
        "completed", 0, 0, 0)


def test_jobs_with_no_jobs_says_so(cli: Cli) -> None:
    assert cli("jobs") == (0, "no jobs\n", "")


def test_status_shows_state_phases_items_and_dead_letters(cli: Cli, finished_job: str,
                                                          state_dir: Path) -> None:
    code, stdout, _ = cli("status", finished_job)
    assert code == 0
    assert stdout.splitlines() == [
        "job mixed-1 (one-fails): completed; retry the 1 dead-lettered item with: "
        f"mapreduce-fsm dlq retry mixed-1 --state-dir {state_dir}",
        "  setup: completed",
        "  map: completed, 3/3 items done",
        "  reduce: completed",
        "  items: failed 1, success 2; dead-lettered 1",
    ]
    code, stdout, _ = cli("status", finished_job, "--json")
    status = json.loads(stdout)
    assert status["state"] == "completed"
    assert {name: phase["status"] for name, phase in status["phases"].items()} == {
        "setup": "completed", "map": "completed", "reduce": "completed"}
    assert status["items"] == {"success": 2, "failed": 1}
    assert status["dead_lettered"] == 1
    assert status["in_flight"] == []
    assert status["waiting"] == []


def test_status_of_a_failed_job_names_the_error(cli: Cli, write_workflow: WriteWorkflow) -> None:
    assert cli("run", str(write_workflow("sf.yml", SETUP_FAILS)), "--job-id", "sf-1").code == 1
    code, stdout, _ = cli("status", "sf-1")
    assert code == 0
    assert "job sf-1 (setup-fails): failed" in stdout
    assert "  setup: failed — step 'never works': exited with code 3" in stdout


def test_status_of_a_running_job_shows_what_is_in_flight(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("waits.yml", """
        name: waits
        map:
          input: "echo '[\\"a\\", \\"b\\", \\"c\\"]'"
          max_parallel: 2
          agent_template:
            - shell: "touch started-${item}; while [ ! -f go ]; do sleep 0.05; done"
        """)
    process = start_cli(("run", str(workflow), "--job-id", "live-1"), tmp_path, state_dir)
    try:
        wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, what="two items to run")
        code, stdout, _ = cli("status", "live-1", "--json")
        assert code == 0
        status = json.loads(stdout)
        assert status["state"] == "map"
        assert status["in_flight"] == ["item-0", "item-1"]
        assert status["running"] is True
        code, stdout, _ = cli("status", "live-1")
        assert code == 0
        assert "  map: running, 0/3 items done" in stdout
        assert "  running now: item-0, item-1" in stdout
    finally:
        (tmp_path / "go").touch()
        assert process.wait(timeout=60) == 0
    status = json.loads(cli("status", "live-1", "--json").stdout)
    assert (status["state"], status["in_flight"]) == ("completed", [])


def test_status_warns_of_a_torn_result_line_and_copes_without_a_checkpoint(
    cli: Cli, finished_job: str, state_dir: Path
) -> None:
    job_dir = state_dir / "jobs" / finished_job
    with (job_dir / "results.jsonl").open("a") as results:
        results.write('{"item_id": "item-')  # what a run killed mid-write leaves
    code, stdout, stderr = cli("status", finished_job)
    assert code == 0
    assert "results.jsonl:4: dropped a torn last line" in stderr
    assert "  items: failed 1, success 2; dead-lettered 1" in stdout
    (job_dir / "checkpoint.json").unlink()
    code, stdout, _ = cli("status", finished_job)
    assert code == 0
    assert stdout.splitlines()[0] == "job mixed-1: not started"


def test_status_of_a_job_no_process_runs_does_not_read_its_event_log(
    cli: Cli, finished_job: str, state_dir: Path
) -> None:
    # Nothing is in flight when no process runs the job, so the log (two events an
    # item: most of a big job's bytes) is not read; a damaged line in it shows that.
    events = state_dir / "jobs" / finished_job / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join([lines[0], "not an event\n", *lines[1:]]))
    code, stdout, stderr = cli("status", finished_job, "--json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["items"] == {"success": 2, "failed": 1}
    code, stdout, stderr = cli("events", finished_job)  # asked for, the log is read
    assert code == 0 and "events.jsonl:2: skipped a corrupt event line" in stderr
    assert len(stdout.splitlines()) == len(lines)  # every other event is shown


def test_a_directory_in_place_of_a_job_file_is_a_clear_error(
    cli: Cli, finished_job: str, state_dir: Path
) -> None:
    dlq_file = state_dir / "jobs" / finished_job / "dlq.jsonl"
    dlq_file.unlink()
    dlq_file.mkdir()
    code, _, stderr = cli("status", finished_job)
    assert (code, stderr) == (2, f"error: cannot use {dlq_file}: Is a directory\n")


def test_status_of_an_unknown_job_exits_2(cli: Cli) -> None:
    code, _, stderr = cli("status", "nope")
    assert code == 2
    assert "no job nope" in stderr


def test_events_all_filtered_and_as_json(cli: Cli, finished_job: str) -> None:
    code, stdout, _ = cli("events", finished_job)
    assert code == 0
    types = [line.split()[2] for line in stdout.splitlines()]
    assert types[0] == "job.started" and types[-1] == "job.completed"
    assert types.count("item.finished") == 3
    code, stdout, _ = cli("events", finished_job, "--type", "item.finished")
    lines = stdout.splitlines()
    assert len(lines) == 3 and all(" item.finished [map] " in line for line in lines)
    assert sum("status=failed" in line for line in lines) == 1
    code, stdout, _ = cli("events", finished_job, "--json", "--type", "phase.completed")
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [event["phase"] for event in events] == ["setup", "map", "reduce"]
    assert all(event["job_id"] == finished_job for event in events)
    seqs = [json.loads(line)["seq"] for line in cli("events", finished_job, "--json").stdout
            .splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_events_follow_prints_a_running_job_live_and_ends_with_the_run(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("waits.yml", """
        name: waits
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "touch started; while [ ! -f go ]; do sleep 0.05; done"
        """)
    run = start_cli(("run", str(workflow), "--job-id", "live-2"), tmp_path, state_dir)
    follow = None
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the item to start")
        follow = start_cli(("events", "live-2", "--follow"), tmp_path, state_dir, capture=True)
        time.sleep(1.0)
        assert follow.poll() is None  # the run goes on, so does --follow
        (tmp_path / "go").touch()
        assert run.wait(timeout=60) == 0
        stdout, stderr = follow.communicate(timeout=30)  # ends by itself after the run
    finally:
        (tmp_path / "go").touch()
        for process in (run, follow):
            if process is not None and process.poll() is None:
                process.kill()
    assert follow.returncode == 0, stderr
    types = [line.split()[2] for line in stdout.splitlines()]
    assert types[0] == "job.started" and types[-1] == "job.completed"
    # A job no process runs: everything on file, then the end.
    again = cli("events", "live-2", "--follow", "--type", "job.completed")
    assert again.code == 0 and len(again.stdout.splitlines()) == 1


def test_diagram_of_a_workflow_file_is_mermaid(cli: Cli, write_workflow: WriteWorkflow) -> None:
    code, stdout, _ = cli("diagram", str(write_workflow("one_fails.yml", ONE_FAILS)))
    assert code == 0
    assert stdout.startswith("---\ntitle: \"one-fails\"\n---\nstateDiagram-v2")
    assert "  setup --> map: continue_ | skip" in stdout
    assert "  map --> reduce: continue_ | skip" in stdout
    marked = [line for line in stdout.splitlines() if line.endswith(" s_active")]
    assert marked == []  # a file has no current state


def test_diagram_of_a_job_marks_its_current_state(
    cli: Cli, write_workflow: WriteWorkflow, finished_job: str
) -> None:
    code, stdout, _ = cli("diagram", "--job", finished_job)
    assert code == 0
    assert "  class completed s_active" in stdout
    assert "  class map s_default" in stdout
    assert cli("run", str(write_workflow("sf.yml", SETUP_FAILS)), "--job-id", "sf-1").code == 1
    assert "  class failed s_active" in cli("diagram", "--job", "sf-1").stdout


def test_diagram_as_dot_and_into_a_file(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, finished_job: str
) -> None:
    workflow = str(write_workflow("one_fails.yml", ONE_FAILS))
    code, stdout, _ = cli("diagram", workflow, "--format", "dot")
    assert code == 0
    assert stdout.lstrip().startswith("digraph")
    assert "setup -> map" in stdout.replace('"', "")
    code, stdout, _ = cli("diagram", "--job", finished_job, "-o", "job.mmd")
    assert (code, stdout) == (0, "")
    assert "class completed s_active" in (tmp_path / "job.mmd").read_text()
    code, _, stderr = cli("diagram", "--job", finished_job, "-o", "no/such/dir/job.mmd")
    assert code == 2
    assert stderr == "error: cannot write no/such/dir/job.mmd: No such file or directory\n"


def test_diagram_svg_without_graphviz_says_how_to_install_it(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = str(write_workflow("one_fails.yml", ONE_FAILS))
    empty_path = tmp_path / "empty-bin"
    empty_path.mkdir()
    code, _, stderr = cli("diagram", workflow, "--format", "svg", env={"PATH": str(empty_path)})
    assert code == 2
    assert "apt-get install graphviz" in stderr
    assert "--format mermaid" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("args", [(), ("wf.yml", "--job", "x")])
def test_diagram_needs_exactly_one_of_file_and_job(cli: Cli, args: tuple[str, ...]) -> None:
    code, _, stderr = cli("diagram", *args)
    assert code == 2
    assert "diagram takes a WORKFLOW file or --job JOB_ID" in stderr
