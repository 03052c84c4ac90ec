"""Step output as a user finds it: `logs JOB ITEM`, `logs JOB setup`, `--step`, `dlq show`
pointing there, and setup/reduce output labelled on stderr (`-q` silences, `-v` adds stderr)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, start_cli, wait_for

WriteWorkflow = Callable[[str, str], Path]

NOISY = """
    name: noisy
    setup:
      - shell: "echo preparing; echo setup note >&2"
      - shell: "echo ready"
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "echo out-${item}; echo err-${item} >&2"
        - shell: "test ${item} -ne 2"
    reduce:
      - shell: "echo total ${map.successful}"
    error_policy:
      on_item_failure: dlq
      continue_on_failure: true
    """


@pytest.fixture
def noisy_job(cli: Cli, write_workflow: WriteWorkflow) -> tuple[Cli, str]:
    workflow = write_workflow("noisy.yml", NOISY)
    done = cli("run", str(workflow), "--job-id", "noisy-1", "--yes")
    assert done.code in (0, 4), done.stderr
    assert "[setup 1/2] preparing\n" in done.stderr
    assert "[setup 2/2] ready\n" in done.stderr
    assert "[reduce 1/1] total 2\n" in done.stderr
    assert "setup note" not in done.stderr  # a succeeding step's stderr needs -v
    return cli, "noisy-1"


def test_logs_prints_each_step_of_an_item_with_stdout_and_stderr(
    noisy_job: tuple[Cli, str]
) -> None:
    cli, job = noisy_job
    code, stdout, stderr = cli("logs", job, "item-1")
    assert code == 0, stderr
    assert stdout == (
        "[item-1 attempt 1] step 1 'echo out-${item}; echo err-${item} >&2': success (exit 0)\n"
        "out-2\n[stderr]\nerr-2\n"
        "[item-1 attempt 1] step 2 'test ${item} -ne 2': failed (exit 1)\n"
    )
    code, stdout, _ = cli("logs", job, "item-0", "--step", "1")
    assert code == 0
    assert "out-1\n" in stdout and "step 2" not in stdout and "out-2" not in stdout


def test_logs_of_setup_and_reduce(noisy_job: tuple[Cli, str]) -> None:
    cli, job = noisy_job
    code, stdout, _ = cli("logs", job, "setup")
    assert code == 0
    assert "[setup] step 1 'echo preparing; echo setup note >&2': success (exit 0)\n" \
           "preparing\n[stderr]\nsetup note\n" in stdout
    code, stdout, _ = cli("logs", job)
    assert code == 0
    assert "ready\n" in stdout and "[reduce] step 1" in stdout and "total 2\n" in stdout


def test_logs_of_an_unknown_item_says_so(noisy_job: tuple[Cli, str], state_dir: Path) -> None:
    cli, job = noisy_job
    code, _, stderr = cli("logs", job, "item-9")
    assert code == 2
    assert "no output kept for item 'item-9' in job noisy-1" in stderr
    # The command it names finds the job: with the --state-dir it was asked with.
    assert f"`mapreduce-fsm status noisy-1 --state-dir {state_dir}` counts them" in stderr


def test_dlq_show_points_to_the_items_logs(noisy_job: tuple[Cli, str], state_dir: Path) -> None:
    cli, job = noisy_job
    code, stdout, stderr = cli("dlq", "show", job, "item-1", "--state-dir", str(state_dir),
                               state_dir=False)
    assert code == 0, stderr
    assert f"full output of every attempt: mapreduce-fsm logs {job} item-1 --state-dir " \
           f"{state_dir}" in stdout


def test_verbose_adds_stderr_of_succeeding_steps_and_quiet_silences_output(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("noisy.yml", NOISY)
    verbose = cli("run", str(workflow), "--yes", "-v")
    assert "[setup 1/2] setup note\n" in verbose.stderr
    quiet = cli("run", str(workflow), "--yes", "-q")
    assert "preparing" not in quiet.stderr and "total 2" not in quiet.stderr


def test_follow_on_an_ended_job_prints_what_is_kept_and_returns(
    noisy_job: tuple[Cli, str]
) -> None:
    cli, job = noisy_job
    code, stdout, _ = cli("logs", job, "item-2", "--follow")
    assert code == 0
    assert "out-3\n" in stdout


def test_events_with_an_unknown_type_lists_the_known_ones(noisy_job: tuple[Cli, str]) -> None:
    cli, job = noisy_job
    code, _, stderr = cli("events", job, "--type", "bogus")
    assert code == 2
    assert "unknown event type 'bogus' for --type; the types are: circuit.closed" in stderr
    assert "item.finished" in stderr
    assert cli("events", job, "--type", "reduce.confirmation").code == 0


def test_follow_prints_output_written_while_the_job_runs_and_ends_with_it(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("waits.yml", """
        name: waits
        map:
          input: "echo '[1, 2]'"
          max_parallel: 1
          agent_template:
            - shell: "echo first-${item}; while [ ! -f go ]; do sleep 0.1; done"
        """)
    runner = start_cli(("run", str(workflow), "--job-id", "waits-1", "--yes"), tmp_path,
                       state_dir)
    try:
        wait_for(lambda: (tmp_path / "state" / "jobs" / "waits-1" / "lock").exists(),
                 what="the job to start")
        follower = start_cli(("logs", "waits-1", "item-1", "--follow"), tmp_path, state_dir,
                             capture=True)
        (tmp_path / "go").touch()
        stdout, _ = follower.communicate(timeout=60)
        assert follower.returncode == 0
        assert "[item-1 attempt 1] step 1" in stdout and "first-2\n" in stdout
    finally:
        runner.wait(timeout=60)


@pytest.mark.parametrize("event_type", ["job.orphans_ended", "merge.started",
                                        "merge.confirmation", "item.worker_lost",
                                        "job.results_lost"])
def test_events_accepts_every_type_the_engine_writes_even_one_this_job_lacks(
    noisy_job: tuple[Cli, str], event_type: str
) -> None:
    cli, job = noisy_job
    code, stdout, stderr = cli("events", job, "--type", event_type)
    assert (code, stdout) == (0, ""), stderr


def test_every_event_type_emitted_by_the_engine_is_a_known_type() -> None:
    import re

    import mapreduce_fsm
    from mapreduce_fsm.cli.event_types import KNOWN_EVENT_TYPES

    package = Path(mapreduce_fsm.__file__).parent
    emitted = {match for source in package.rglob("*.py")
               for match in re.findall(r"\bemit\(\s*\"([a-z_]+\.[a-z_.]+|transition)\"",
                                       source.read_text(encoding="utf-8"))}
    assert len(emitted) > 20  # the scan finds the engine's events
    assert emitted - KNOWN_EVENT_TYPES == set()


def test_follow_of_an_item_that_never_ran_says_so_once_the_job_is_over(
    noisy_job: tuple[Cli, str]
) -> None:
    cli, job = noisy_job
    code, stdout, stderr = cli("logs", job, "item-9", "--follow")
    assert (code, stdout) == (2, "")
    assert "no output kept for item 'item-9' in job noisy-1" in stderr


def test_a_step_that_is_not_a_number_is_said_in_the_projects_words(
    noisy_job: tuple[Cli, str]
) -> None:
    cli, job = noisy_job
    code, _, stderr = cli("logs", job, "item-1", "--step", "two")
    assert (code, stderr) == (2, "error: --step must be a whole number, got 'two'\n")
