"""Prodigy's keys run through the command line, in a tmp dir (a real git repo where needed)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, job_ids

WriteWorkflow = Callable[[str, str], Path]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for command in (["init", "-q"], ["config", "user.email", "t@example.com"],
                    ["config", "user.name", "t"], ["commit", "-q", "--allow-empty", "-m", "0"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    return tmp_path


def events(state_dir: Path, job_id: str) -> list[dict[str, object]]:
    lines = (state_dir / "jobs" / job_id / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def commit_count(repo: Path) -> int:
    return int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout)


COMMITS = 'echo ${item} > f-${item}.txt && git add f-${item}.txt && git commit -qm "item ${item}"'


LAZY = """
  - name: lazy
    shell: "echo no commit"
    commit_required: true
"""
PLAIN_MAP = """map:
  input: "echo '[1]'"
  agent_template:
    - shell: "true"
"""


@pytest.mark.parametrize(("phase", "text"), [
    ("setup", f"name: lazy\nsetup:{LAZY}{PLAIN_MAP}"),
    ("map", "name: lazy\nmap:\n  input: \"echo '[1]'\"\n  agent_template:"
            + LAZY.replace("\n", "\n  ")),
    ("reduce", f"name: lazy\n{PLAIN_MAP}reduce:{LAZY}"),
])
def test_commit_required_fails_a_step_that_made_no_commit(
    cli: Cli, write_workflow: WriteWorkflow, repo: Path, state_dir: Path, phase: str, text: str
) -> None:
    workflow = write_workflow("wf.yml", text)
    code, _, stderr = cli("run", str(workflow), "--job-id", "lazy-1")
    assert code == (4 if phase == "map" else 1), stderr  # a failed item goes to the DLQ
    assert "step 'lazy': commit_required, but HEAD did not move" in stderr
    failed = [e for e in events(state_dir, "lazy-1")
              if e["type"] in ("phase.failed", "item.finished")]
    assert any(e["phase"] == phase and "step 'lazy': commit_required, but HEAD did not move"
               in json.dumps(e["data"]) for e in failed), failed


def test_commit_required_passes_when_every_item_commits(
    cli: Cli, write_workflow: WriteWorkflow, repo: Path
) -> None:
    workflow = write_workflow("wf.yml", f"""
        name: committing
        map:
          input: "echo '[1, 2]'"
          max_parallel: 1
          agent_template:
            - shell: '{COMMITS}'
              commit_required: true
        """)
    (repo / ".gitignore").write_text("state/\nwf.yml\n")
    code, _, stderr = cli("run", str(workflow), "--isolation", "none")
    assert code == 0, stderr
    assert commit_count(repo) == 3


def test_commit_required_isolates_each_item_and_merges_every_commit_home(
    cli: Cli, write_workflow: WriteWorkflow, repo: Path
) -> None:
    workflow = write_workflow("wf.yml", f"""
        name: committing
        map:
          input: "echo '[1, 2]'"
          agent_template:
            - shell: '{COMMITS}'
              commit_required: true
        """)
    (repo / ".gitignore").write_text("wf.yml\n")
    subprocess.run(["git", "add", ".gitignore"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "ignore"], cwd=repo, check=True)
    code, _, stderr = cli("run", str(workflow), "--yes")
    assert code == 0, stderr
    assert "isolation: worktree (auto: the workflow has a commit_required step" in stderr
    subjects = subprocess.run(["git", "log", "--format=%s"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout.splitlines()
    assert {"item 1", "item 2"} <= set(subjects)
    assert (repo / "f-1.txt").read_text() == "1\n" and (repo / "f-2.txt").read_text() == "2\n"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout
    assert status == "", status


def test_claude_agent_commits_with_prodigys_flags(
    cli: Cli, write_workflow: WriteWorkflow, repo: Path
) -> None:
    bin_dir = repo / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "claude"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" >> "$ARGS_LOG"\n'
                    'echo "$*" > edit.txt && git add edit.txt && git commit -qm agent\n'
                    'echo done\n')
    fake.chmod(0o755)
    (repo / ".gitignore").write_text("state/\nwf.yml\nbin/\nargs.log\n")
    workflow = write_workflow("wf.yml", """
        name: agent
        env:
          STYLE: terse
        map:
          input: "echo '[1]'"
          agent_template:
            - claude: "/fix item ${item} in $STYLE style"
              commit_required: true
            - shell: "test '${claude.output}' = done"
        """)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MAPREDUCE_FSM_CLAUDE": "",
           "ARGS_LOG": str(repo / "args.log")}
    code, _, stderr = cli("run", str(workflow), env=env)
    assert code == 0, stderr
    assert (repo / "args.log").read_text().splitlines() == [
        "--print", "--dangerously-skip-permissions", "/fix item 1 in terse style"]


def test_command_timeout_kills_a_step_and_the_item_goes_to_the_dlq(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("wf.yml", """
        name: slow
        map:
          input: "echo '[1]'"
          timeout_config:
            timeout_policy: PerCommand
            command_timeouts: {shell_0: 0.5}
            cleanup_grace_period_secs: 1
            timeout_action: Dlq
            enable_monitoring: true
          agent_template:
            - shell: "sleep 60"
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "slow-1")
    assert code == 4, stderr  # the job completes (exit 4: an item failed); it is in the DLQ
    assert "step 'sleep 60': timed out after 0.5s" in stderr
    code, stdout, _ = cli("dlq", "list", "slow-1", "--state-dir", str(state_dir),
                          state_dir=False)
    assert code == 0 and "1" in stdout


def test_timeout_action_skip_and_fail(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    text = """
        name: slow
        map:
          input: "echo '[1, 2]'"
          max_parallel: 1
          timeout_config:
            command_timeouts: {shell: 0.3}
            timeout_action: ACTION
          agent_template:
            - shell: "test ${item} = 2 || sleep 60"
        """
    skip = write_workflow("skip.yml", text.replace("ACTION", "skip"))
    code, _, stderr = cli("run", str(skip), "--job-id", "skip-1")
    assert code == 4, stderr  # the timed-out item is skipped, not dead-lettered (exit 4)
    fail = write_workflow("fail.yml", text.replace("ACTION", "fail"))
    code, _, stderr = cli("run", str(fail), "--job-id", "fail-1")
    assert code == 1
    stopped = [e for e in events(state_dir, "fail-1") if e["type"] == "map.note"]
    assert any("stopping the map: item item-0: step 'test ${item} = 2 || sleep 60': timed out "
               "after 0.3s (timeout_config has timeout_action: fail)" in str(e["data"])
               for e in stopped), stopped


@pytest.mark.parametrize(("mode", "notes"), [
    ("error_collection: immediate", ["item item-0 failed", "item item-1 failed",
                                     "item item-2 failed"]),
    ("error_collection: batched:2", ["2 items failed", "item item-2 failed"]),
    ("error_policy:\n  error_collection: {batched: {size: 2}}",
     ["2 items failed", "item item-2 failed"]),
    ("error_collection: aggregate", ["3 items failed"]),
])
def test_error_collection_reports_failures_without_changing_outcomes(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path, mode: str, notes: list[str]
) -> None:
    workflow = write_workflow("wf.yml", f"""
name: failing
{mode}
map:
  input: "echo '[1, 2, 3, 4]'"
  max_parallel: 1
  agent_template:
    - shell: "test ${{item}} = 4"
""")
    code, _, stderr = cli("run", str(workflow), "--job-id", "f-1")
    assert code == 4, stderr  # failed items go to the DLQ; the job completes (exit 4)
    reported = [str(e["data"]) for e in events(state_dir, "f-1") if e["type"] == "map.note"]
    assert [next((n for n in notes if n in r), None) for r in reported] == notes
    dead = [e for e in events(state_dir, "f-1") if e["type"] == "item.dead_lettered"]
    assert len(dead) == 3  # the outcomes are the same in every mode


def test_profile_applies_over_env_and_is_kept_for_resume(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("wf.yml", """
        name: profiled
        env:
          TARGET: dev
        profiles:
          prod:
            TARGET: production
            description: "the real thing"
        setup:
          - shell: "echo ${TARGET} >> seen.txt; test -f go"
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "true"
        """)
    code, _, _ = cli("run", str(workflow), "--profile", "prod", "--job-id", "p-1")
    assert code == 1
    (tmp_path / "go").write_text("")
    code, _, stderr = cli("resume", "p-1")
    assert code == 0, stderr
    assert (tmp_path / "seen.txt").read_text() == "production\nproduction\n"
    code, _, stderr = cli("run", str(workflow), "--profile", "staging")
    assert code == 2
    assert "--profile staging: the workflow has no such profile (profiles: prod)" in stderr


def test_env_files_load_relative_to_the_workflow_and_errors_name_file_and_line(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "base.env").write_text("# base\nGREETING=hello\nNAME='from file'\n")
    workflow = write_workflow("conf/wf.yml", """
        name: envfiles
        env_files:
          - base.env
        env:
          NAME: from env
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "echo $GREETING ${GREETING} ${NAME} > out.txt"
        """)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    assert (tmp_path / "out.txt").read_text() == "hello hello from env\n"
    (tmp_path / "conf" / "base.env").write_text("GOOD=1\nthis is not a pair\n")
    code, _, stderr = cli("validate", str(workflow), state_dir=False)
    assert code == 2
    assert "base.env, line 2: expected NAME=value" in stderr


def test_secrets_name_an_env_var_or_a_file_and_stay_masked(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    (tmp_path / "token.txt").write_text("  file-s3cret\n")
    workflow = write_workflow("wf.yml", f"""
        name: secretive
        secrets:
          API: MRF_PRODIGY_API
          FILE_TOKEN: {{provider: file, key: {tmp_path / "token.txt"}}}
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: "test ${{API}} = env-s3cret && test ${{FILE_TOKEN}} = file-s3cret"
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "s-1",
                          env={"MRF_PRODIGY_API": "env-s3cret"})
    assert code == 0, stderr
    job_files = "".join(p.read_text() for p in (state_dir / "jobs" / "s-1").glob("*.json*"))
    assert "env-s3cret" not in job_files
    code, _, stderr = cli("run", str(workflow), env={})
    assert code == 2
    assert "API (from $MRF_PRODIGY_API)" in stderr
    (tmp_path / "token.txt").unlink()
    code, _, stderr = cli("run", str(workflow), env={"MRF_PRODIGY_API": "env-s3cret"})
    assert code == 2
    assert f"FILE_TOKEN (from file {tmp_path / 'token.txt'}: No such file" in stderr
    assert job_ids(state_dir) == ["s-1"]  # no job was created for the refused runs


def test_capture_and_validate_in_setup_and_reduce(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("wf.yml", """
        name: captured
        setup:
          - shell: "echo 3; echo note >&2"
            capture: count
            capture_format: number
            capture_streams: {stderr: true}
          - shell: "echo '[\\"x1\\", \\"x2\\", \\"y3\\"]' > items.json"
            validate:
              shell: "echo '{\\"completion_percentage\\": 100}'"
        map:
          input: items.json
          filter: "item matches '^x'"
          agent_template:
            - shell: "echo ${item}"
        reduce:
          - shell: "echo ${count} ${count.success} ${count.stderr} ${map.successful} > out.txt"
            validate:
              - "test -s out.txt"
        """)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    assert (tmp_path / "out.txt").read_text() == "3 true note 2\n"


def test_validate_in_the_map_repairs_an_item_and_fails_one_it_cannot(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("wf.yml", """
        name: validated
        map:
          input: "echo '[\\"ok\\", \\"stuck\\"]'"
          agent_template:
            - shell: "echo 50 > score-${item}"
              validate:
                shell: >-
                  printf '{"completion_percentage": %s, "missing": ["docs"]}' "$(cat score-${item})"
                threshold: 100
                on_incomplete:
                  shell: >-
                    test ${item} = ok && echo 100 > score-${item};
                    echo ${validation.missing_count} >> repairs
                  max_attempts: 2
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "v-1")
    assert code == 4, stderr  # the stuck item is in the DLQ (exit 4)
    assert "step 'echo 50 > score-${item}': validation incomplete after 3 attempts: 50% " \
        "complete, below the threshold of 100%; missing: docs" in stderr
    assert (tmp_path / "repairs").read_text().split() == ["1", "1", "1"]
    finished = {e["data"]["item_id"]: e["data"]["status"] for e in events(state_dir, "v-1")
                if e["type"] == "item.finished"}
    assert finished == {"item-0": "success", "item-1": "failed"}
