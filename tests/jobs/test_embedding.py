"""The library as an embedder meets it: silent by default, a clear error inside a running
event loop, and per-item results read from the journal one at a time."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from mapreduce_fsm import run
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.jobs.run import run_async

WORKFLOW = """
    name: embedded
    setup:
      - shell: "echo setup says hello; echo and complains >&2"
    map:
      input: "echo '[1, 2, 3]'"
      agent_template:
        - shell: "echo item ${item}; test ${item} -ne 2"
    reduce:
      - shell: "echo reduce says ${map.successful}"
    error_policy:
      on_item_failure: dlq
      continue_on_failure: true
    """


def write(tmp_path: Path) -> Path:
    path = tmp_path / "embedded.yml"
    path.write_text(textwrap.dedent(WORKFLOW), encoding="utf-8")
    return path


def test_run_inside_a_running_event_loop_names_run_async(tmp_path: Path) -> None:
    workflow = write(tmp_path)

    async def notebook_cell() -> None:
        run(workflow, state_dir=tmp_path / "state", working_dir=tmp_path)

    with pytest.raises(UsageError, match=r"inside a running event loop.*await run_async"):
        asyncio.run(notebook_cell())
    assert not (tmp_path / "state").exists()


def test_the_library_prints_nothing_unless_asked(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run(write(tmp_path), state_dir=tmp_path / "state", working_dir=tmp_path)
    assert result.state == "completed"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_item_results_iterate_over_the_journal_with_the_last_result_of_each_item(
    tmp_path: Path,
) -> None:
    result = asyncio.run(run_async(write(tmp_path), state_dir=tmp_path / "state",
                                   working_dir=tmp_path))
    results = result.item_results()
    assert iter(results) is results  # an iterator, not a list held in memory
    by_id = {item.item_id: item for item in results}
    assert sorted(by_id) == ["item-0", "item-1", "item-2"]
    assert by_id["item-1"].status == "failed"
    assert by_id["item-0"].output == "item 1\n"
    # a later line for the same item (a retry) supersedes the earlier one
    journal = tmp_path / "state" / "jobs" / result.job_id / "results.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    retried = next(line for line in lines if '"item-1"' in line).replace('"failed"', '"success"')
    journal.write_text("".join(lines) + retried, encoding="utf-8")
    statuses = [(item.item_id, item.status) for item in result.item_results()]
    assert sorted(statuses) == [("item-0", "success"), ("item-1", "success"),
                                ("item-2", "success")]
