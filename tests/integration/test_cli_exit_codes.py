"""Exit codes that tell the truth: 0 only when every item succeeded, 4 when items failed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Cli

WriteWorkflow = Callable[[str, str], Path]

ALL_FAIL = """
    name: all-fail
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "exit 7"
    """

ONE_SKIPPED = """
    name: one-skipped
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "test ${item} -ne 2"
    error_policy:
      on_item_failure: skip
    """

# Item 2 fails until a file named `fixed` exists.
FIXABLE = """
    name: fixable
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "test ${item} -ne 2 || test -e fixed"
    """


def test_a_job_whose_items_all_failed_exits_4_and_points_at_the_dlq(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("all_fail.yml", ALL_FAIL)
    code, _, stderr = cli("run", str(workflow), "--job-id", "af")
    assert code == 4, stderr
    assert stderr.splitlines()[-1] == (
        "job af completed, but 3 of 3 items failed (3 dead-lettered); see them with: "
        f"mapreduce-fsm dlq list af --state-dir {state_dir}"
    )


def test_quiet_still_says_items_failed_and_json_counts_them(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("all_fail.yml", ALL_FAIL)
    code, stdout, stderr = cli("run", str(workflow), "--job-id", "q", "-q", "--json")
    assert code == 4, stderr
    assert "3 of 3 items failed" in stderr.splitlines()[-1]
    summary = json.loads(stdout)
    assert summary["exit_code"] == 4
    assert summary["items"] == {"total": 3, "failed": 3, "skipped": 0}


def test_skipped_items_exit_4_and_the_last_line_names_them_and_their_logs(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    # Skipped items are not in the DLQ, so `dlq list` would show nothing: the line names
    # the items and the command that shows why one failed.
    workflow = write_workflow("skip.yml", ONE_SKIPPED)
    code, _, stderr = cli("run", str(workflow), "--job-id", "sk")
    assert code == 4, stderr
    assert stderr.splitlines()[-1] == (
        "job sk completed, but 1 of 3 items failed (1 skipped: item-1); see why with: "
        f"mapreduce-fsm logs sk item-1 --state-dir {state_dir}")
    code, stdout, _ = cli("logs", "sk", "item-1")
    assert code == 0 and "failed (exit 1)" in stdout


def test_many_skipped_items_are_named_up_to_three(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("skip_all.yml", """
        name: skip-all
        map:
          input: "echo '[1, 2, 3, 4, 5]'"
          agent_template:
            - shell: "exit 1"
        error_policy:
          on_item_failure: skip
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "ska")
    assert code == 4, stderr
    assert "but 5 of 5 items failed (5 skipped: item-0, item-1, item-2, ...); see why with: " \
           "mapreduce-fsm logs ska item-0" in stderr.splitlines()[-1]


def test_resume_of_a_completed_job_with_failures_exits_4(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    workflow = write_workflow("all_fail.yml", ALL_FAIL)
    assert cli("run", str(workflow), "--job-id", "r4").code == 4
    code, _, stderr = cli("resume", "r4")
    assert code == 4, stderr
    assert "already completed: nothing to do" in stderr
    assert "3 of 3 items failed" in stderr.splitlines()[-1]


def test_dlq_retry_exits_4_while_items_stay_dead_lettered_and_0_once_fixed(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("fixable.yml", FIXABLE)
    assert cli("run", str(workflow), "--job-id", "fx").code == 4
    retry = ("dlq", "retry", "fx", "--yes", "--state-dir", str(state_dir))
    code, _, stderr = cli(*retry, state_dir=False)
    assert code == 4, stderr
    assert stderr.splitlines()[-1].endswith(f"mapreduce-fsm dlq list fx --state-dir {state_dir}")
    (tmp_path / "fixed").touch()
    code, _, stderr = cli(*retry, state_dir=False)
    assert code == 0, stderr
    assert "job fx completed" in stderr


def test_help_lists_the_exit_codes(cli: Cli) -> None:
    code, stdout, _ = cli("--help", state_dir=False)
    assert code == 0
    text = " ".join(stdout.split())
    assert "4 the job completed but some items failed" in text
    assert "130 interrupted" in text


def test_help_readme_and_format_reference_give_the_same_exit_codes(cli: Cli) -> None:
    from tests.test_docs import README, ROOT

    def table_codes(text: str) -> set[str]:
        return set(re.findall(r"^\| (\d+) \|", text, re.MULTILINE))

    readme = table_codes(README.read_text(encoding="utf-8"))
    reference = table_codes((ROOT / "docs" / "workflow-format.md").read_text(encoding="utf-8"))
    stdout = cli("--help", state_dir=False).stdout
    shown = set(re.findall(r"^ +(\d+) ", stdout.split("Exit codes:", 1)[1], re.MULTILINE))
    assert readme == reference == shown == {"0", "1", "2", "3", "4", "5", "130"}
    # What the README's row 2 names, --help names too.
    text = " ".join(stdout.split())
    assert "a job another process runs, a refused resume" in text
