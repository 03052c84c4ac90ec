"""What a user sees of the map's input before and during a run: dry-run counts, CSV numbers,
warnings for fields no item has, a missing input file refused before a job exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Cli, job_ids

WriteWorkflow = Callable[[str, str], Path]

SIZES_CSV = "name,size\nsmall,2\nbig,20\nhuge,300\nmid,15\nbig2,20\n"

CSV_WORKFLOW = """
    name: sizes
    map:
      input: sizes.csv
      id_field: name
      filter: "size > 10"
      sort_by: "size DESC"
      distinct: size
      max_items: 2
      max_parallel: 1
      agent_template:
        - shell: "echo ${item.name} >> order.txt"
    """


def test_dry_run_counts_what_each_selection_stage_keeps_and_shows_the_first_ids(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    (tmp_path / "sizes.csv").write_text(SIZES_CSV, encoding="utf-8")
    workflow = write_workflow("sizes.yml", CSV_WORKFLOW)
    code, stdout, stderr = cli("run", str(workflow), "--dry-run")
    assert code == 0, stderr
    assert "items from file sizes.csv:" in stdout
    for line in ("loaded:    5", "json_path: 5", "filter:    4", "distinct:  3",
                 "max_items: 2", "items:     2", "first ids: huge, big"):
        assert f"  {line}\n" in stdout, stdout
    assert not state_dir.exists()
    assert not (tmp_path / "order.txt").exists()


def test_dry_run_json_prints_the_plan_and_the_counts_as_json(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    (tmp_path / "sizes.csv").write_text(SIZES_CSV, encoding="utf-8")
    workflow = write_workflow("sizes.yml", CSV_WORKFLOW)
    code, stdout, stderr = cli("run", str(workflow), "--dry-run", "--json")
    assert code == 0, stderr
    plan = json.loads(stdout)
    assert "map" in [phase["name"] for phase in plan["phases"]]
    assert plan["items"]["stages"] == {"loaded": 5, "json_path": 5, "filter": 4,
                                       "distinct": 3, "max_items": 2, "items": 2}
    assert plan["items"]["first_ids"] == ["huge", "big"]


def test_dry_run_runs_an_input_command_only_with_yes(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("cmd.yml", """
        name: cmd
        map:
          input: "touch ran; echo '[1, 2, 3]'"
          agent_template:
            - shell: "true"
        """)
    code, stdout, stderr = cli("run", str(workflow), "--dry-run")
    assert code == 0, stderr
    assert "items: not counted: map.input is a command" in stdout
    assert "add --yes" in stdout
    assert not (tmp_path / "ran").exists()
    code, stdout, stderr = cli("run", str(workflow), "--dry-run", "--yes")
    assert code == 0, stderr
    assert (tmp_path / "ran").exists()
    assert "  items:     3\n" in stdout and "first ids: item-0, item-1, item-2" in stdout
    assert "no job was created; the map.input command ran (--yes)" in stdout


def test_csv_numbers_filter_and_sort_as_numbers_in_a_run(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    (tmp_path / "sizes.csv").write_text(SIZES_CSV, encoding="utf-8")
    workflow = write_workflow("sizes.yml", CSV_WORKFLOW)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    # as text, "300" < "20" and "2" > "10": both filter and order would differ
    assert (tmp_path / "order.txt").read_text() == "huge\nbig\n"


def test_sort_by_a_field_no_item_has_warns_naming_it(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    workflow = write_workflow("typo.yml", """
        name: typo
        map:
          input: "echo '[{\\"size\\": 2}, {\\"size\\": 1}]'"
          sort_by: sise
          agent_template:
            - shell: "true"
        """)
    code, _, stderr = cli("run", str(workflow))
    assert code == 0, stderr
    assert "warning: map.sort_by reads field 'sise', which no item has " \
           "(fields of the items: size)" in stderr


def test_a_missing_input_file_is_an_error_before_a_job_is_created(
    cli: Cli, write_workflow: WriteWorkflow, state_dir: Path
) -> None:
    workflow = write_workflow("missing.yml", """
        name: missing
        map:
          input: nowhere.json
          agent_template:
            - shell: "true"
        """)
    code, _, stderr = cli("run", str(workflow))
    assert code == 2
    assert "map.input: file 'nowhere.json' not found in" in stderr
    assert "no job was created" in stderr
    assert job_ids(state_dir) == []


def test_an_input_with_no_items_says_the_map_is_skipped(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    (tmp_path / "empty.json").write_text("[]\n", encoding="utf-8")
    workflow = write_workflow("empty.yml", """
        name: empty
        map:
          input: empty.json
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo total ${map.total}"
        """)
    code, _, stderr = cli("run", str(workflow), "--job-id", "e-1")
    assert code == 0, stderr
    assert "warning: no work items in file empty.json: the map is skipped\n" in stderr
    code, stdout, _ = cli("status", "e-1")
    assert code == 0
    assert "  map: skipped\n" in stdout
    assert "  items: none; dead-lettered 0\n" in stdout  # not "none yet": the job is over


def test_dry_run_of_an_input_file_the_run_cannot_load_fails_as_the_run_would(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    (tmp_path / "bad.csv").write_text("name,size:number\na,1\nb,big\n", encoding="utf-8")
    workflow = write_workflow("bad.yml", """
        name: bad
        map:
          input: bad.csv
          agent_template:
            - shell: "true"
        """)
    code, stdout, stderr = cli("run", str(workflow), "--dry-run")
    assert code == 1, stdout  # what the run itself would end with, not 0
    assert "error: the run would fail loading the map's items" in stderr
    assert "items: cannot be loaded: bad.csv:3: column 'size' is declared :number" in stdout
    code, stdout, _ = cli("run", str(workflow), "--dry-run", "--json")
    assert code == 1
    items = json.loads(stdout)["items"]
    assert items["error"].startswith("bad.csv:3: column 'size'")
    assert items["stages"] == {} and items["not_loaded"] is None
    assert job_ids(state_dir) == []
    assert cli("run", str(workflow)).code == 1  # the run fails the same way


def test_distinct_on_a_field_no_item_has_warns_naming_it(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    # Every item's value would be null, so distinct keeps one item of many without a word.
    workflow = write_workflow("typo.yml", """
        name: typo
        map:
          input: "echo '[{\\"owner\\": {\\"id\\": 1}}, {\\"owner\\": {\\"id\\": 2}}]'"
          distinct: owner.nme
          agent_template:
            - shell: "true"
        """)
    code, stdout, stderr = cli("run", str(workflow), "--dry-run", "--yes")
    assert code == 0, stderr
    assert "warning: map.distinct reads field 'owner.nme', which no item has " \
           "(fields of the items: owner)" in stderr
    assert "  distinct:  1\n" in stdout
