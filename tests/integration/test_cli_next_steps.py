"""States a user can act on: waiting items, the resume header and --max-parallel kept,
and the next command `status` prints for interrupted, failed, paused and completed jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mapreduce_fsm import ScriptedInteraction, Services, run
from tests.integration.conftest import Cli, start_cli, wait_for

WriteWorkflow = Callable[[str, str], Path]

# Item "w" fails its first attempt and waits 60s for its retry; "r" runs until `go` exists.
WAITS_FOR_RETRY = """
    name: waits
    map:
      input: "echo '[\\"w\\", \\"r\\"]'"
      agent_template:
        - shell: |
            if [ ${item} = w ]; then test -e tried-w && exit 0; touch tried-w; exit 1; fi
            touch started-r; while [ ! -f go ]; do sleep 0.05; done
    error_policy:
      retry_config:
        max_attempts: 2
        backoff: { fixed: { delay: "60s" } }
        max_delay: "60s"
    """

# Writes the number of items running at once (by counting marker files) as each starts.
PARALLEL = """
    name: parallel
    map:
      input: "echo '[1, 2, 3, 4]'"
      max_parallel: 4
      agent_template:
        - shell: |
            touch running-${item}; ls running-* | wc -l >> widths.txt
            while [ ! -f go ] && [ ! -f stop-${item} ]; do sleep 0.05; done
            rm running-${item}; test -f go
    """

PAUSES = """
    name: pauses
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "test ${item} -ne 2"
    reduce:
      confirm: always
      commands:
        - shell: "true"
    """

QUICK = """
    name: quick
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """

SETUP_FAILS = """
    name: setup-fails
    setup:
      - shell: "exit 3"
    map:
      input: "echo '[1]'"
      agent_template:
        - shell: "true"
    """


def test_an_item_waiting_for_its_retry_shows_as_waiting_not_running(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("waits.yml", WAITS_FOR_RETRY)
    process = start_cli(("run", str(workflow), "--job-id", "wait-1"), tmp_path, state_dir)
    events = state_dir / "jobs" / "wait-1" / "events.jsonl"
    try:
        wait_for(lambda: (tmp_path / "started-r").exists() and events.exists()
                 and "item.retry_scheduled" in events.read_text(), what="w to wait, r to run")
        status = json.loads(cli("status", "wait-1", "--json").stdout)
        assert (status["in_flight"], status["waiting"]) == (["item-1"], ["item-0"])
        code, stdout, _ = cli("status", "wait-1")
        assert code == 0
        assert "  running now: item-1" in stdout
        assert "  waiting for a retry: item-0" in stdout
    finally:
        process.kill()
        process.wait()


def test_resume_prints_a_header_and_keeps_the_runs_max_parallel(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("parallel.yml", PARALLEL)
    process = start_cli(("run", str(workflow), "--job-id", "mp", "--max-parallel", "1"),
                        tmp_path, state_dir)
    wait_for(lambda: (tmp_path / "widths.txt").exists(), what="the first item to start")
    assert cli("stop", "mp").code == 0
    process.wait(timeout=60)
    (tmp_path / "widths.txt").unlink()
    (tmp_path / "go").touch()
    code, _, stderr = cli("resume", "mp")
    assert code == 0, stderr
    assert stderr.splitlines()[:2] == [  # the two header lines, as `run` prints them
        f"job mp: resuming parallel (files in {state_dir / 'jobs' / 'mp'})",
        "isolation: none (kept from the run)"]
    assert max(int(n) for n in (tmp_path / "widths.txt").read_text().split()) == 1


def test_status_prints_the_next_command_for_each_kind_of_end(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    flag = f"--state-dir {state_dir}"
    assert cli("run", str(write_workflow("sf.yml", SETUP_FAILS)), "--job-id", "f").code == 1
    assert cli("status", "f").stdout.splitlines()[0] == (
        f"job f (setup-fails): failed; resume with: mapreduce-fsm resume f {flag}")

    services = Services(interaction=ScriptedInteraction([False]))  # "no" to the reduce
    paused = run(write_workflow("p.yml", PAUSES), job_id="p", state_dir=state_dir,
                 working_dir=tmp_path, services=services)
    assert paused.state == "paused"
    assert cli("status", "p").stdout.splitlines()[0] == (
        f"job p (pauses): paused; resume with: mapreduce-fsm resume p {flag}")
    assert json.loads(cli("status", "p", "--json").stdout)["next_command"] == (
        f"mapreduce-fsm resume p {flag}")

    assert cli("resume", "p", "--yes").code == 4  # completed; item 2 is dead-lettered
    assert cli("status", "p").stdout.splitlines()[0] == (
        f"job p (pauses): completed; retry the 1 dead-lettered item with: "
        f"mapreduce-fsm dlq retry p {flag}")

    assert cli("run", str(write_workflow("q.yml", QUICK)), "--job-id", "ok").code == 0
    assert cli("status", "ok").stdout.splitlines()[0] == "job ok (quick): completed"
    assert json.loads(cli("status", "ok", "--json").stdout)["next_command"] is None
