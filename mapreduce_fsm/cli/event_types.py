"""The event types a job writes, so `events --type` can refuse one that no job ever has."""

from __future__ import annotations

from collections.abc import Set
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mapreduce_fsm.state import JobStore

# What the engine emits (custom phases may add their own: the job's log is read for those).
KNOWN_EVENT_TYPES = frozenset({
    "job.started", "job.resumed", "job.completed", "job.failed", "job.paused",
    "job.interrupted", "job.lock_taken_over", "job.resume_refused", "job.retrying_items",
    "job.orphans_ended", "job.results_lost",
    "phase.started", "phase.completed", "phase.failed", "phase.skipped", "phase.paused",
    "phase.crashed", "transition", "step.finished",
    "map.started", "map.note", "map.warning",
    "item.started", "item.finished", "item.retry_scheduled", "item.dead_lettered",
    "item.left_dlq", "item.worker_lost", "circuit.open", "circuit.half_open", "circuit.closed",
    "reduce.confirmation", "merge.started", "merge.confirmation",
})


def check_event_types(store: JobStore, wanted: Set[str]) -> None:
    """UsageError naming the known types when a wanted type is neither one the engine
    writes nor one in this job's log (a typo would otherwise print nothing)."""
    unknown = set(wanted) - KNOWN_EVENT_TYPES
    if not unknown:
        return
    in_log = {event.type for event in store.events.read()}
    unknown -= in_log
    if unknown:
        from mapreduce_fsm.errors import UsageError

        names = ", ".join(sorted(KNOWN_EVENT_TYPES | in_log))
        raise UsageError(f"unknown event type {', '.join(map(repr, sorted(unknown)))} "
                         f"for --type; the types are: {names}")
