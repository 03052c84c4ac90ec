"""The phase that processes items is found by its declared capability, not by the name "map"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.errors import MapReduceError
from mapreduce_fsm.jobs import dlq
from mapreduce_fsm.jobs.run import Services, run_workflow
from mapreduce_fsm.phases import MapPhase, PhaseCoordinator, PhaseExecutor, build_phases
from mapreduce_fsm.phases.types import item_phase, processes_items
from mapreduce_fsm.state import JobStore, list_jobs
from tests.phases.harness import ScriptedPhase

# Each item fails until a file named ok-<item> exists; reduce appends a line.
WORKFLOW = """\
name: renamed
map:
  input: items.json
  agent_template:
    - shell: "test -e ok-${item} || exit 3"
reduce:
  - shell: "echo reduced >> reduce.log"
error_policy:
  on_item_failure: dlq
"""


def renamed_phases(tmp_path: Path) -> list[PhaseExecutor]:
    """The built-in phases, with the map renamed "items"."""
    workflow = load_workflow_text(WORKFLOW, filename=str(tmp_path / "wf.yml"), environ={})
    return [attrs.evolve(phase, name="items") if isinstance(phase, MapPhase) else phase
            for phase in build_phases(workflow)]


def test_a_renamed_item_phase_gets_item_counts_and_dlq_retry(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b"]', encoding="utf-8")
    (tmp_path / "ok-a").touch()
    phases = renamed_phases(tmp_path)
    assert [phase.name for phase in phases] == ["setup", "items", "reduce"]
    result = asyncio.run(run_workflow(tmp_path / "wf.yml", job_id="job-1",
                                      state_dir=tmp_path / "state", working_dir=tmp_path,
                                      phases=phases, environ={}))
    assert result.state == "completed"
    store = JobStore.open(tmp_path / "state", "job-1")
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None and checkpoint.item_phase == "items"
    (summary,) = list_jobs(tmp_path / "state")
    assert (summary.ok, summary.failed, summary.total) == (1, 1, 2)
    assert [entry.item_id for entry in store.dlq.load()] == ["item-1"]
    (ended,) = [event for event in store.events.read()
                if event.type == "phase.completed" and event.phase == "items"]
    assert (ended.data["items_processed"], ended.data["items_successful"],
            ended.data["items_failed"]) == (2, 1, 1)

    (tmp_path / "ok-b").touch()
    report = asyncio.run(dlq.retry_dead_letters(
        "job-1", state_dir=tmp_path / "state", phases=renamed_phases(tmp_path),
        services=Services(interaction=ScriptedInteraction([True, True])), environ={}))
    assert report.recovered == ("item-1",) and report.exit_code == 0
    assert store.dlq.load() == []
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None
    moves = [(h.trigger, h.source, h.dest) for h in checkpoint.history]
    assert ("retry_items", "completed", "items") in moves
    assert (tmp_path / "reduce.log").read_text(encoding="utf-8") == "reduced\nreduced\n"
    (summary,) = list_jobs(tmp_path / "state")
    assert (summary.ok, summary.failed, summary.total) == (2, 0, 2)


def test_the_item_phase_is_the_one_that_declares_it() -> None:
    @attrs.define
    class Tally(ScriptedPhase):
        processes_items = True

    phases: Sequence[PhaseExecutor] = [ScriptedPhase("map"), Tally("tally")]
    assert [processes_items(phase) for phase in phases] == [False, True]
    assert item_phase(phases) == "tally"
    assert item_phase([ScriptedPhase("map")]) is None  # the name alone says nothing


def test_two_phases_that_process_items_are_refused(tmp_path: Path) -> None:
    workflow = load_workflow_text(WORKFLOW, filename="wf.yml", environ={})
    (map_phase,) = [phase for phase in build_phases(workflow) if isinstance(phase, MapPhase)]
    store = JobStore.create(tmp_path / "state", "job-1", WORKFLOW)
    with pytest.raises(MapReduceError, match="only one phase may process items"):
        PhaseCoordinator(phases=[map_phase, attrs.evolve(map_phase, name="again")], store=store)


def test_a_checkpoint_written_before_item_phase_existed_still_loads(tmp_path: Path) -> None:
    store = JobStore.create(tmp_path / "state", "job-1", WORKFLOW)
    old = {
        "format_version": 1, "job_id": "job-1", "workflow_name": "renamed",
        "workflow_digest": "0" * 64, "working_dir": str(tmp_path), "state": "completed",
        "phase_order": ["setup", "map", "reduce"], "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
    }
    store.checkpoint_path.write_text(json.dumps(old), encoding="utf-8")
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None
    assert (checkpoint.state, checkpoint.item_phase) == ("completed", None)
