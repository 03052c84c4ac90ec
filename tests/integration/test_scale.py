"""Scale: 10,000 items through the real command line, each with a final result."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Cli

ITEM_COUNT = 10_000


def test_ten_thousand_items_complete_through_the_cli(
    cli: Cli, write_workflow: Callable[[str, str], Path], tmp_path: Path, state_dir: Path
) -> None:
    (tmp_path / "items.json").write_text(json.dumps(list(range(ITEM_COUNT))))
    workflow = write_workflow("many.yml", """
        name: many
        map:
          input: items.json
          max_parallel: 8
          agent_template:
            - shell: "true"
        reduce:
          - shell: "echo ${map.successful}/${map.total} > summary.txt"
        """)
    started = time.monotonic()
    code, stdout, stderr = cli("run", str(workflow), "--job-id", "many-1", "--json")
    elapsed = time.monotonic() - started
    assert code == 0, stderr[-2000:]
    print(f"\n{ITEM_COUNT} items through the CLI in {elapsed:.1f}s")
    assert json.loads(stdout)["phases"]["map"]["data"]["total"] == ITEM_COUNT
    lines = (state_dir / "jobs" / "many-1" / "results.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    assert len(results) == ITEM_COUNT
    assert Counter(result["status"] for result in results) == {"success": ITEM_COUNT}
    assert {result["item_index"] for result in results} == set(range(ITEM_COUNT))
    assert (tmp_path / "summary.txt").read_text() == f"{ITEM_COUNT}/{ITEM_COUNT}\n"
