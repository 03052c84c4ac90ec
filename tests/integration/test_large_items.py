"""Items larger than an environment string reach their steps by a file, up to a documented limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mapreduce_fsm.convert import compact_json
from mapreduce_fsm.workitems.items import MAX_ITEM_JSON_BYTES
from tests.integration.conftest import Cli

WriteWorkflow = Callable[[str, str], Path]
MIB = 1024 * 1024

READS_ITS_ITEM = """
    name: large-items
    map:
      input: items.json
      agent_template:
        - shell: "echo hello"
        - shell: "cat \\"$ITEM_JSON_FILE\\" > got-${item_index}.json"
        - shell: "printf %s \\"${ITEM_JSON-unset}\\" > env-${item_index}.txt"
    """


def _items(tmp_path: Path, *items: object) -> list[str]:
    (tmp_path / "items.json").write_text(json.dumps(list(items)), encoding="utf-8")
    return [compact_json(item) for item in items]


def test_a_one_mib_item_runs_and_its_steps_read_it_from_a_file(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    small, large = _items(tmp_path, {"n": "small"}, {"n": "large", "data": "x" * MIB})
    code, _, stderr = cli("run", str(write_workflow("wf.yml", READS_ITS_ITEM)), "-q")
    assert code == 0, stderr
    assert (tmp_path / "got-0.json").read_text(encoding="utf-8") == small
    assert (tmp_path / "env-0.txt").read_text(encoding="utf-8") == small  # it fits: both
    assert (tmp_path / "got-1.json").read_text(encoding="utf-8") == large
    assert (tmp_path / "env-1.txt").read_text(encoding="utf-8") == "unset"  # too big for env


def test_the_item_file_is_removed_by_the_end_of_the_run(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    _items(tmp_path, {"n": 1})
    workflow = write_workflow("wf.yml", """
        name: item-file
        map:
          input: items.json
          agent_template:
            - shell: "printf %s \\"$ITEM_JSON_FILE\\" > where.txt"
        """)
    assert cli("run", str(workflow), "-q").code == 0
    where = Path((tmp_path / "where.txt").read_text(encoding="utf-8"))
    assert where.name.startswith("item-0-") and where.suffix == ".json"
    assert not where.exists() and not where.parent.exists()  # gone with the run's process


def test_an_item_over_the_limit_is_refused_at_load_naming_it_and_the_limit(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    assert MAX_ITEM_JSON_BYTES == 16 * MIB
    _items(tmp_path, {"n": "ok"}, {"n": "huge", "data": "x" * (17 * MIB)})
    code, _, stderr = cli("run", str(write_workflow("wf.yml", READS_ITS_ITEM)), "-q")
    assert code == 1, stderr
    assert "item 1" in stderr and "16 MiB" in stderr and "items.json" in stderr, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert not (tmp_path / "got-0.json").exists()  # refused before any item ran
