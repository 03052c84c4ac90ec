"""`mapreduce-fsm run` and `resume` as a user runs them: real subprocesses, real job dirs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.jobs.run import Services, run_workflow
from tests.integration.conftest import Cli, job_ids, start_cli, wait_for

WriteWorkflow = Callable[[str, str], Path]

COUNTING = """
    name: counting
    setup:
      - name: write the items
        shell: "echo '[1, 2, 3]' > items.json"
    map:
      input: items.json
      max_parallel: 2
      agent_template:
        - shell: "echo item ${item} > done-${item}.txt"
    reduce:
      - shell: "echo ${map.successful} of ${map.total} > summary.txt"
    """

ONE_FAILS = """
    name: one-fails
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "test ${item} -ne 2"
    reduce:
      - shell: "echo ${map.successful} ok ${map.failed} failed > summary.txt"
    error_policy:
      on_item_failure: dlq
      continue_on_failure: true
    """

NEEDS_MARKER = """
    name: needs-marker
    setup:
      - name: check the marker
        shell: "test -f marker"
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "touch item-${item}.txt"
    """


def single_job(state_dir: Path) -> str:
    ids = job_ids(state_dir)
    assert len(ids) == 1, ids
    return ids[0]


def test_run_completes_and_announces_the_job_first(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    code, stdout, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    job_id = single_job(state_dir)
    assert job_id.startswith("counting-")
    assert stderr.splitlines()[0].startswith(f"job {job_id}: running counting")
    assert f"job {job_id} completed" in stderr
    assert (tmp_path / "summary.txt").read_text() == "3 of 3\n"
    results = (state_dir / "jobs" / job_id / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["status"] for line in results) == ["success"] * 3
    assert stdout == ""


@pytest.mark.parametrize(("flags", "reason"), [((), "no terminal"), (("--yes",), "--yes")])
def test_failed_item_goes_to_the_dlq_and_the_reduce_is_confirmed_without_asking(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path,
    flags: tuple[str, ...], reason: str,
) -> None:
    workflow = write_workflow("one_fails.yml", ONE_FAILS)
    code, _, stderr = cli("run", str(workflow), *flags)
    assert code == 4, stderr  # completed, but an item failed
    assert f"-> yes ({reason})" in stderr
    assert "completed, but 1 of 3 items failed (1 dead-lettered)" in stderr
    assert (tmp_path / "summary.txt").read_text() == "2 ok 1 failed\n"
    dlq = (state_dir / "jobs" / single_job(state_dir) / "dlq.jsonl").read_text().splitlines()
    assert [json.loads(line)["item_id"] for line in dlq] == ["item-1"]


def test_failing_setup_exits_1_naming_the_step_and_how_to_resume(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("needs_marker.yml", NEEDS_MARKER)
    code, _, stderr = cli("run", str(workflow), "--job-id", "nm-1")
    assert code == 1
    assert "job nm-1 failed in setup: step 'check the marker'" in stderr
    assert f"resume with: mapreduce-fsm resume nm-1 --state-dir {state_dir}" in stderr
    assert "Traceback" not in stderr


def test_bad_workflow_file_exits_2_with_every_issue_and_its_line(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("bad.yml", """
        name: bad
        map:
          input: items.json
          max_paralel: 3
          agent_template:
            - shell: "true"
              timeout: yes
        """)
    code, stdout, stderr = cli("run", str(workflow))
    assert code == 2
    assert f"{workflow}:4 map.max_paralel: unknown key, did you mean max_parallel?" in stderr
    assert f"{workflow}:7 map.agent_template[0].timeout:" in stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    assert not state_dir.exists()


def test_missing_workflow_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    code, _, stderr = cli("run", "nowhere.yml")
    assert code == 2
    assert "nowhere.yml" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("flags", "message"), [
    (("--max-parallel", "0"), "error: --max-parallel must be 1 or more, got 0"),
    (("--max-parallel", "ten"), "error: --max-parallel must be a whole number, got 'ten'"),
    (("--bogus",), "No such option '--bogus'"),
    (("-v", "-q"), "contradict"),
    (("--job-id", "no/slashes"), "invalid job id 'no/slashes'"),
])
def test_bad_flags_exit_2(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path,
    flags: tuple[str, ...], message: str,
) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    code, _, stderr = cli("run", str(workflow), *flags)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert job_ids(state_dir) == []


def test_json_prints_one_summary_object_on_stdout(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("one_fails.yml", ONE_FAILS)
    code, stdout, _ = cli("run", str(workflow), "--json", "--job-id", "j-1")
    assert code == 4  # completed, but an item failed
    summary = json.loads(stdout)  # the whole of stdout is one object
    assert summary["job_id"] == "j-1"
    assert summary["state"] == "completed"
    assert summary["exit_code"] == 4
    assert list(summary["phases"]) == ["setup", "map", "reduce"]
    assert summary["phases"]["setup"]["outcome"] == "skipped"  # the file has no setup
    assert summary["phases"]["map"]["data"]["total"] == 3
    assert summary["phases"]["map"]["data"]["failed"] == 1


def test_quiet_prints_no_progress(cli: Cli, write_workflow: WriteWorkflow) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    code, stdout, stderr = cli("run", str(workflow), "-q")
    assert code == 0
    assert (stdout, stderr) == ("", "")
    _, _, loud = cli("run", str(workflow))
    assert "map: finished 3/3" in loud  # what -q took away


def test_verbose_shows_each_phase(cli: Cli, write_workflow: WriteWorkflow) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    code, _, stderr = cli("run", str(workflow), "-v")
    assert code == 0
    lines = [line.split(" in ")[0] for line in stderr.splitlines()
             if line.startswith(("[", "map: finished"))]
    # Each line as it happens: the map's own summary comes between its start and its end.
    assert lines == [
        "[setup] started", "[setup] completed", "[map] started", "map: finished 3/3 (0 failed)",
        "[map] completed", "[reduce] started", "[reduce] completed",
    ]


def test_job_id_used_twice_is_refused(cli: Cli, write_workflow: WriteWorkflow,
                                      tmp_path: Path) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    assert cli("run", str(workflow), "--job-id", "twice").code == 0
    (tmp_path / "summary.txt").unlink()
    code, _, stderr = cli("run", str(workflow), "--job-id", "twice")
    assert code == 2
    assert "job twice already exists" in stderr
    assert "mapreduce-fsm resume twice" in stderr
    assert not (tmp_path / "summary.txt").exists()  # nothing ran the second time


def test_missing_secret_exits_2_naming_it(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("secret.yml", """
        name: secret
        secrets:
          TOKEN: { env: MRF_TEST_TOKEN_UNSET }
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "test -n ${TOKEN}"
        """)
    env = {"MRF_TEST_TOKEN_UNSET": ""}
    code, _, stderr = cli("run", str(workflow), env={})
    assert code == 2
    assert "TOKEN (from $MRF_TEST_TOKEN_UNSET)" in stderr
    assert job_ids(state_dir) == []
    assert cli("run", str(workflow), "--dry-run").code == 2
    assert cli("run", str(workflow), env={**env, "MRF_TEST_TOKEN_UNSET": "s3cret"}).code == 0


def test_a_secret_in_captured_output_is_used_but_never_written_to_the_job(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path, tmp_path: Path
) -> None:
    workflow = write_workflow("capture.yml", """
        name: capture
        secrets:
          TOKEN: { env: MRF_TEST_TOKEN }
        setup:
          - shell: "echo token=$TOKEN"
            capture_output: line
          - shell: "test '${line}' = token=$TOKEN"   # this run has the real value
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: "echo ${TOKEN}-${item}"
              capture_output: mine
        reduce:
          - shell: "printf '%s' ${map.results|sh} > results-seen.json"
        """)
    code, stdout, stderr = cli("run", str(workflow), "--job-id", "cap-1",
                               env={"MRF_TEST_TOKEN": "s3cr3t-value"})
    assert code == 0, stderr
    assert "s3cr3t-value" not in stdout + stderr
    job_dir = state_dir / "jobs" / "cap-1"
    written = {path.name: path.read_text() for path in job_dir.iterdir() if path.is_file()}
    assert {"checkpoint.json", "results.jsonl", "events.jsonl"} <= set(written)
    assert [name for name, text in written.items() if "s3cr3t-value" in text] == []
    assert json.loads(written["checkpoint.json"])["variables"]["line"] == "token=***"
    seen = json.loads((tmp_path / "results-seen.json").read_text())
    assert [result["captures"]["mine"] for result in seen] == ["***-1", "***-2"]


def test_fail_workflow_in_a_map_step_fails_the_job(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("rollback.yml", """
        name: rollback
        map:
          input: "echo a; echo b; echo c"
          max_parallel: 1
          agent_template:
            - shell: "echo ${item} >> ran.log; test ${item} != b"
              on_failure:
                shell: "echo rollback"
                fail_workflow: true
        reduce:
          - shell: "touch reduced"
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "fw-1")
    assert code == 1, stderr
    assert "(on_failure has fail_workflow: true)" in stderr
    assert (tmp_path / "ran.log").read_text().split() == ["a", "b"]  # c never started
    assert not (tmp_path / "reduced").exists()
    listed = cli("dlq", "list", "fw-1", "--json", "--state-dir", str(state_dir))
    assert [json.loads(line)["item_id"] for line in listed.stdout.splitlines()] == ["item-1"]


def test_long_step_output_and_warnings_are_not_wrapped_in_a_log(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    long_word = "x" * 200
    workflow = write_workflow("long.yml", f"""
        name: long
        map:
          input: "echo '[]'"
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo {long_word} and more words after it"
        """)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    assert f"{long_word} and more words after it\n" in stderr


def test_dry_run_shows_the_plan_and_runs_nothing(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    before = sorted(path.name for path in tmp_path.iterdir())
    code, stdout, stderr = cli("run", str(workflow), "--dry-run", "--max-parallel", "7")
    assert code == 0, stderr
    assert "1. setup" in stdout and "- write the items" in stdout
    assert "2. map: each item of items.json, at most 7 at once" in stdout
    assert "dry run: no step was run and no job was created\n" in stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    assert not state_dir.exists()


def test_ctrl_c_exits_130_and_the_job_resumes(
    write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path, cli: Cli
) -> None:
    workflow = write_workflow("slow.yml", """
        name: slow
        map:
          input: "echo '[1, 2, 3, 4]'"
          max_parallel: 2
          agent_template:
            - shell: "touch started-${item}; [ -f go ] && touch done-${item} || sleep 30"
        """)
    process = start_cli(("run", str(workflow), "--job-id", "slow-1"), tmp_path, state_dir,
                        capture=True)
    # Both slots busy, so no process is being spawned: Python 3.11 cancelled mid-spawn
    # waits for the whole process group (see the report of this test's commit).
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, what="two items to start")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "job slow-1 interrupted in map" in stderr
    assert f"mapreduce-fsm resume slow-1 --state-dir {state_dir}" in stderr
    (tmp_path / "go").touch()
    code, _, stderr = cli("resume", "slow-1")
    assert code == 0, stderr
    assert sorted(path.name for path in tmp_path.glob("done-*")) == [
        "done-1", "done-2", "done-3", "done-4"]


def test_resume_of_a_completed_job_has_nothing_to_do(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    assert cli("run", str(workflow), "--job-id", "done-1").code == 0
    code, _, stderr = cli("resume", "done-1")
    assert code == 0
    assert "job done-1 is already completed: nothing to do" in stderr


def test_resume_of_an_unknown_job_exits_2_with_similar_ids(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("counting.yml", COUNTING)
    assert cli("run", str(workflow), "--job-id", "nightly-run").code == 0
    code, _, stderr = cli("resume", "nightly-rnu")
    assert code == 2
    assert "no job nightly-rnu" in stderr
    assert "similar ids: nightly-run" in stderr
    assert "Traceback" not in stderr


def test_resume_of_a_failed_job_completes_once_the_cause_is_fixed(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("needs_marker.yml", NEEDS_MARKER)
    assert cli("run", str(workflow), "--job-id", "fix-1").code == 1
    assert not list(tmp_path.glob("item-*"))
    (tmp_path / "marker").touch()
    code, _, stderr = cli("resume", "fix-1")
    assert code == 0, stderr
    assert "job fix-1 completed" in stderr
    assert sorted(path.name for path in tmp_path.glob("item-*")) == ["item-1.txt", "item-2.txt"]


def test_resume_after_the_workflow_file_changed_needs_force_and_then_runs_the_new_file(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("needs_marker.yml", NEEDS_MARKER)
    assert cli("run", str(workflow), "--job-id", "edit-1").code == 1
    workflow.write_text(workflow.read_text().replace('"test -f marker"', '"touch fixed-setup"'))
    code, _, stderr = cli("resume", "edit-1")
    assert code == 2
    assert "changed since job edit-1 started" in stderr
    assert "--force" in stderr
    assert not (tmp_path / "fixed-setup").exists()
    code, _, stderr = cli("resume", "edit-1", "--force")
    assert code == 0, stderr
    assert (tmp_path / "fixed-setup").exists()  # the edited setup step ran
    assert len(list(tmp_path.glob("item-*"))) == 2


CONFIRM_ALWAYS = """
    name: confirm-always
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "true"
    reduce:
      commands:
        - shell: "touch reduced"
      confirm: always
    """


def test_reduce_confirm_always_is_answered_yes_without_a_terminal(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("confirm.yml", CONFIRM_ALWAYS)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    assert "-> yes (no terminal)" in stderr
    assert (tmp_path / "reduce").exists() is False and (tmp_path / "reduced").exists()


def test_declined_reduce_pauses_with_exit_3_and_cli_resume_completes(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("confirm.yml", CONFIRM_ALWAYS)
    interaction = ScriptedInteraction([False])
    result = asyncio.run(run_workflow(
        workflow, job_id="pause-1", state_dir=state_dir, working_dir=tmp_path,
        services=Services(interaction=interaction), environ=dict(os.environ),
    ))
    assert (result.state, result.exit_code) == ("paused", 3)
    assert len(interaction.prompts) == 1
    assert not (tmp_path / "reduced").exists()
    code, _, stderr = cli("status", "pause-1")
    assert code == 0
    code, _, stderr = cli("resume", "pause-1")
    assert code == 0, stderr
    assert "-> yes (no terminal)" in stderr
    assert (tmp_path / "reduced").exists()
