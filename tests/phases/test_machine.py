"""The transition table, the running machine built from it, and the committed diagrams."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from transitions import MachineError

from mapreduce_fsm.phases import diagrams
from mapreduce_fsm.phases import machine as fsm

PHASES = ["setup", "map", "reduce"]
REPO = Path(__file__).resolve().parents[2]


def test_table_has_every_documented_edge_and_no_other() -> None:
    edges = {(e.trigger, e.source, e.dest) for e in fsm.transition_table(PHASES, "map")}
    expected = {("start", "pending", "setup")}
    following = {"setup": "map", "map": "reduce", "reduce": "completed"}
    for phase in PHASES:
        expected |= {
            ("continue_", phase, following[phase]),
            ("skip", phase, following[phase]),
            ("complete", phase, "completed"),
            ("error", phase, "failed"),
            ("pause", phase, "paused"),
            ("resume", phase, phase),
            ("resume", "failed", phase),
            ("resume", "paused", phase),
        }
    expected |= {("retry_items", ended, "map") for ended in ("completed", "failed", "paused")}
    assert edges == expected


def test_retry_items_exists_only_when_a_phase_processes_items() -> None:
    edges = fsm.transition_table(PHASES)  # a phase named "map" is not enough
    assert not [edge for edge in edges if edge.trigger == fsm.RETRY_ITEMS]


def test_retry_items_enters_the_item_phase_whatever_its_name() -> None:
    edges = fsm.transition_table(["setup", "items", "reduce"], item_phase="items")
    assert {(e.source, e.dest) for e in edges if e.trigger == fsm.RETRY_ITEMS} == {
        (ended, "items") for ended in ("completed", "failed", "paused")}
    with pytest.raises(ValueError, match="not one of"):
        fsm.transition_table(PHASES, item_phase="items")


def test_retry_items_takes_an_ended_job_into_the_map_only() -> None:
    model, entered = build(initial="completed")
    asyncio.run(model.retry_items())  # type: ignore[attr-defined]
    assert (model.state, entered) == ("map", ["map"])
    model, _ = build(initial="reduce")
    with pytest.raises(MachineError):
        asyncio.run(model.retry_items())  # type: ignore[attr-defined]


class Model:
    state: str


def build(initial: str = "pending") -> tuple[Model, list[str]]:
    model, entered = Model(), []

    async def on_state(event: Any) -> None:
        entered.append(event.state.name)

    fsm.build_machine(model, PHASES, initial=initial, item_phase="map",
                      on_enter_state=on_state)
    return model, entered


def test_entering_a_phase_only_records_the_move() -> None:
    model, entered = build()
    asyncio.run(model.start())  # type: ignore[attr-defined]
    assert model.state == "setup"
    assert entered == ["setup"]  # once: no executor runs inside the trigger


def test_an_error_recording_the_move_leaves_the_trigger() -> None:
    model = Model()

    async def full_disk(event: Any) -> None:
        raise OSError(28, "No space left on device")

    fsm.build_machine(model, PHASES, initial="pending", on_enter_state=full_disk)
    with pytest.raises(OSError, match="No space"):
        asyncio.run(model.start())  # type: ignore[attr-defined]


def test_an_edge_not_in_the_table_raises() -> None:
    model, _ = build(initial="map")
    with pytest.raises(MachineError):
        asyncio.run(model.start())  # type: ignore[attr-defined]
    assert model.state == "map"


def test_resume_from_failed_goes_to_the_named_phase_only() -> None:
    model, entered = build(initial="failed")
    assert asyncio.run(model.resume(target="nowhere")) is False  # type: ignore[attr-defined]
    assert model.state == "failed"
    asyncio.run(model.resume(target="reduce"))  # type: ignore[attr-defined]
    assert model.state == "reduce"
    assert entered == ["reduce"]


def test_resume_inside_a_phase_re_enters_it() -> None:
    model, entered = build(initial="map")
    asyncio.run(model.resume())  # type: ignore[attr-defined]
    assert (model.state, entered) == ("map", ["map"])


def test_mermaid_marks_the_active_state_and_lists_every_state() -> None:
    text = fsm.mermaid_diagram(PHASES, active="map", title="t")
    for state in fsm.states(PHASES):
        assert f'state "{state}" as {state}' in text
    assert "class map s_active" in text
    assert "class pending s_active" not in text


def test_dot_source_has_every_edge() -> None:
    text = fsm.dot_source(PHASES, item_phase="map", active="reduce", title="t")
    for edge in fsm.transition_table(PHASES, "map"):
        assert f'"{edge.source}" -> "{edge.dest}" [label="{edge.trigger}"]' in text
    assert '"reduce" [label="reduce", style="rounded,filled"' in text


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_committed_diagrams_match_the_machine(name: str) -> None:
    committed = (REPO / "diagrams" / f"{name}.md").read_text(encoding="utf-8")
    assert committed == diagrams.markdown(name), "run `make diagrams` and commit the result"


@pytest.mark.parametrize("active", ["completed", "map", "failed"])
def test_a_jobs_diagram_marks_its_state_and_keeps_the_start_arrow_on_pending(
    active: str,
) -> None:
    from mapreduce_fsm.phases.machine import mermaid_diagram

    text = mermaid_diagram(["setup", "map", "reduce"], item_phase="map", active=active,
                           title="job j")
    assert "  [*] --> pending\n" in text
    assert f"[*] --> {active}" not in text
    assert f"  class {active} s_active" in text
    assert "  class pending s_default" in text
