"""The job state machine: one table of allowed edges, built from the ordered phase list.

States are `pending`, one per phase, `completed`, `failed` and `paused`. Every move
of a job is one of these triggers; an edge that is not in the table raises
`transitions.MachineError`. `retry_items` takes an ended job back into the phase that
processes items (the executor declares `processes_items`) to re-run dead-lettered items
(`mapreduce-fsm dlq retry`). The same table builds the running `AsyncMachine` and the
diagrams, and the property tests check the coordinator against it. The machine only
records and checks moves: the coordinator runs the executors, outside any trigger.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # imported where used: `jobs` and `status` need only the names below
    from transitions.extensions.asyncio import AsyncMachine

from mapreduce_fsm.errors import JobStateError

if TYPE_CHECKING:
    from mapreduce_fsm.state import Checkpoint

PENDING = "pending"
COMPLETED = "completed"
FAILED = "failed"
PAUSED = "paused"
RESERVED_STATES = frozenset({PENDING, COMPLETED, FAILED, PAUSED})
ENDED_STATES = frozenset({COMPLETED, FAILED, PAUSED})  # no process runs a job in these

# Triggers. `continue_` has a trailing underscore because `continue` is a keyword.
START = "start"
CONTINUE = "continue_"
SKIP = "skip"
COMPLETE = "complete"
ERROR = "error"
PAUSE = "pause"
RESUME = "resume"
RETRY_ITEMS = "retry_items"
TRIGGERS = (START, CONTINUE, SKIP, COMPLETE, ERROR, PAUSE, RESUME, RETRY_ITEMS)


@attrs.frozen(kw_only=True)
class Edge:
    """One allowed move. A `resume` out of failed/paused carries the phase it re-enters."""

    trigger: str
    source: str
    dest: str


def states(phase_names: Sequence[str]) -> list[str]:
    return [PENDING, *phase_names, COMPLETED, FAILED, PAUSED]


def check_machine_state(checkpoint: Checkpoint, path: Path) -> None:
    """JobStateError naming `path` and the field unless the checkpoint's `state` and
    `resume_phase` are in the machine of its `phase_order`."""
    for field, value, allowed in (
        ("state", checkpoint.state, states(checkpoint.phase_order)),
        ("resume_phase", checkpoint.resume_phase, [None, *checkpoint.phase_order]),
    ):
        if value not in allowed:
            known = ", ".join(str(name) for name in allowed)
            raise JobStateError(f"checkpoint {path} is not a valid checkpoint: $.{field}: "
                                f"{value!r} is not one of this job's: {known}")


def transition_table(phase_names: Sequence[str], item_phase: str | None = None) -> list[Edge]:
    """Every allowed edge for a job whose phases run in `phase_names` order.

    `item_phase` is the phase that processes items, which `retry_items` re-enters.
    """
    if not phase_names:
        raise ValueError("a job needs at least one phase")
    edges = [Edge(trigger=START, source=PENDING, dest=phase_names[0])]
    for index, phase in enumerate(phase_names):
        following = phase_names[index + 1] if index + 1 < len(phase_names) else COMPLETED
        edges += [
            Edge(trigger=CONTINUE, source=phase, dest=following),
            Edge(trigger=SKIP, source=phase, dest=following),
            Edge(trigger=COMPLETE, source=phase, dest=COMPLETED),
            Edge(trigger=ERROR, source=phase, dest=FAILED),
            Edge(trigger=PAUSE, source=phase, dest=PAUSED),
            # After a crash the job is still "in" the phase: resuming re-enters it.
            Edge(trigger=RESUME, source=phase, dest=phase),
        ]
    for phase in phase_names:
        edges.append(Edge(trigger=RESUME, source=FAILED, dest=phase))
        edges.append(Edge(trigger=RESUME, source=PAUSED, dest=phase))
    if item_phase is not None:
        if item_phase not in phase_names:
            raise ValueError(f"the item phase {item_phase!r} is not one of {list(phase_names)}")
        # Re-run dead-lettered items inside the same job, then the phases after them.
        for ended in (COMPLETED, FAILED, PAUSED):
            edges.append(Edge(trigger=RETRY_ITEMS, source=ended, dest=item_phase))
    return edges


def _resume_condition(dest: str) -> Callable[[Any], bool]:
    """A resume out of failed/paused goes to the phase named by `resume(target=...)`."""

    def condition(event: Any) -> bool:
        return bool(event.kwargs.get("target") == dest)

    condition.__name__ = f"target_is_{dest}"
    return condition


def _machine_transitions(
    phase_names: Sequence[str], item_phase: str | None
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for edge in transition_table(phase_names, item_phase):
        spec: dict[str, Any] = {"trigger": edge.trigger, "source": edge.source, "dest": edge.dest}
        if edge.trigger == RESUME and edge.source in (FAILED, PAUSED):
            spec["conditions"] = [_resume_condition(edge.dest)]
        result.append(spec)
    return result


def build_machine(
    model: Any,
    phase_names: Sequence[str],
    *,
    initial: str,
    item_phase: str | None = None,
    on_enter_state: Callable[[Any], Any],
) -> AsyncMachine:
    """The running machine for one job: it records and checks moves, and runs nothing else.

    Entering any state calls `on_enter_state` (the coordinator records the move and
    writes the checkpoint), awaited inside the trigger; an error there leaves the
    trigger. The phase's executor is not a callback: the coordinator runs it after the
    trigger returned, so `transitions` never sees (or swallows) its cancellation.
    """
    from transitions.extensions.asyncio import AsyncMachine

    state_specs = [{"name": name, "on_enter": [on_enter_state]} for name in states(phase_names)]
    return AsyncMachine(
        model=model,
        states=state_specs,
        transitions=_machine_transitions(phase_names, item_phase),
        initial=initial,
        send_event=True,
        auto_transitions=False,
    )


def mermaid_diagram(
    phase_names: Sequence[str],
    *,
    item_phase: str | None = None,
    active: str | None = None,
    title: str,
) -> str:
    """The machine as a Mermaid state diagram; `active` is highlighted."""
    from transitions.extensions.diagrams import GraphMachine

    graph_machine = GraphMachine(
        states=states(phase_names),
        transitions=[
            {"trigger": e.trigger, "source": e.source, "dest": e.dest}
            for e in transition_table(phase_names, item_phase)
        ],
        initial=PENDING,  # where every job starts: the [*] arrow points here
        auto_transitions=False,
        graph_engine="mermaid",
        title=title,
        show_conditions=False,
    )
    text: str = graph_machine.get_graph().draw(None)
    # transitions marks the initial state as the current one: mark `active` instead, or
    # nothing for a workflow file, which has no current state.
    text = text.replace(f"Class {PENDING} s_active", f"Class {PENDING} s_default")
    if active is not None:
        text = text.replace(f"Class {active} s_default", f"Class {active} s_active")
    # transitions writes "Class"; Mermaid's keyword is "class".
    text = text.replace("\n  Class ", "\n  class ")
    # transitions puts the bare title in the front matter; Mermaid wants `title: ...`.
    text = text.replace(f"---\n{title}\n---", f"---\ntitle: {json.dumps(title)}\n---", 1)
    return text.rstrip() + "\n"


def dot_source(
    phase_names: Sequence[str],
    *,
    item_phase: str | None = None,
    active: str | None = None,
    title: str,
) -> str:
    """The machine in Graphviz's dot language, from the same table (render with `dot -Tsvg`)."""
    lines = [f'digraph "{title}" {{', "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    for name in states(phase_names):
        style = ', style="rounded,filled", fillcolor=darksalmon' if name == active else ""
        lines.append(f'  "{name}" [label="{name}"{style}];')
    for edge in transition_table(phase_names, item_phase):
        lines.append(f'  "{edge.source}" -> "{edge.dest}" [label="{edge.trigger}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
