"""The phase vocabulary: transitions, phase and job results, the executor and handler protocols."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from mapreduce_fsm.errors import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ITEMS_FAILED,
    EXIT_PAUSED,
)
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.state import JobStore, ResultsJournal
from mapreduce_fsm.state.records import FAILURE_STATUSES, ItemResult

if TYPE_CHECKING:
    from mapreduce_fsm.phases.context import PhaseContext

PhaseOutcome = Literal["completed", "skipped", "failed", "paused"]


@attrs.frozen(kw_only=True)
class PhaseMetrics:
    """How long a phase took and, for phases that handle items, how many."""

    duration_secs: float = 0.0
    items_processed: int = 0
    items_successful: int = 0
    items_failed: int = 0


@attrs.frozen(kw_only=True)
class PhaseResult:
    """What one run of a phase executor produced.

    `outcome` decides the trigger the coordinator fires: completed -> `continue_`
    (or `complete` when `finish_workflow` is set), skipped -> `skip`, failed -> the
    handler's `on_phase_error`, paused -> `pause`.
    """

    phase: str
    outcome: PhaseOutcome
    data: Mapping[str, Any] = attrs.field(factory=dict)
    error: str | None = None
    metrics: PhaseMetrics = attrs.field(factory=PhaseMetrics)
    finish_workflow: bool = False  # completed, and no later phase should run

    @property
    def success(self) -> bool:
        return self.outcome in ("completed", "skipped")

    @classmethod
    def completed(cls, phase: str, **kwargs: Any) -> PhaseResult:
        return cls(phase=phase, outcome="completed", **kwargs)

    @classmethod
    def skipped(cls, phase: str, reason: str) -> PhaseResult:
        return cls(phase=phase, outcome="skipped", data={"reason": reason})

    @classmethod
    def failed(cls, phase: str, error: str, **kwargs: Any) -> PhaseResult:
        return cls(phase=phase, outcome="failed", error=error, **kwargs)

    @classmethod
    def paused(cls, phase: str, reason: str) -> PhaseResult:
        return cls(phase=phase, outcome="paused", data={"reason": reason})


@attrs.frozen(kw_only=True)
class WorkflowResult:
    """How a run (or resume) of a job ended."""

    job_id: str
    state: str  # completed, failed, paused, or a phase name when interrupted
    phase_results: Mapping[str, PhaseResult] = attrs.field(factory=dict)
    error: str | None = None
    interrupted: bool = False
    nothing_to_do: bool = False
    # Of the job's items when it completed: how many failed (and went to the dead-letter
    # queue) and how many were skipped after failing (`on_item_failure: skip`).
    items_failed: int = 0
    items_skipped: int = 0
    items_total: int = 0
    job_path: Path | None = None  # the job's directory, set by the public API

    def item_results(self) -> Iterator[ItemResult]:
        """Each item's final result, read from the job's results journal one at a time
        (the journal is not loaded whole: fit for 100,000 items)."""
        if self.job_path is None:
            return iter(())
        return ResultsJournal(self.job_path / "results.jsonl").iter_final()

    @property
    def failed_phase(self) -> str | None:
        """The phase that failed in this run, if one did."""
        failed = [name for name, result in self.phase_results.items()
                  if result.outcome == "failed"]
        return failed[-1] if failed else None

    @property
    def exit_code(self) -> int:
        """0 only when every item succeeded; 4 when the job completed but items failed."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.state == fsm.COMPLETED and (self.items_failed or self.items_skipped):
            return EXIT_ITEMS_FAILED
        return {fsm.COMPLETED: EXIT_COMPLETED, fsm.PAUSED: EXIT_PAUSED}.get(self.state, EXIT_FAILED)


def completed_result(job_id: str, statuses: Iterable[str], **fields: Any) -> WorkflowResult:
    """A completed job's result, with the failure counts of its items' final `statuses`."""
    counts: Counter[str] = Counter(statuses)
    return WorkflowResult(
        job_id=job_id, state=fsm.COMPLETED,
        items_failed=sum(counts[status] for status in FAILURE_STATUSES),
        items_skipped=counts["skipped"], items_total=sum(counts.values()), **fields,
    )


def interrupted_result(store: JobStore) -> WorkflowResult:
    """How a cancelled run ended, from its checkpoint: for reporting Ctrl-C or SIGTERM."""
    checkpoint = store.load_checkpoint()
    state = checkpoint.state if checkpoint is not None else fsm.PENDING
    return WorkflowResult(job_id=store.job_id, state=state, interrupted=True)


@attrs.frozen(kw_only=True)
class PhaseError:
    """A failed phase, as handed to `PhaseTransitionHandler.on_phase_error`."""

    phase: str
    message: str
    result: PhaseResult | None = None


# The four transitions a handler may ask for (README, "Embedding from Python").


@attrs.frozen(kw_only=True)
class Continue:
    """Go on to the next phase, as if the phase had succeeded."""


@attrs.frozen(kw_only=True)
class Skip:
    """Record the phase as skipped and go on."""

    phase: str
    reason: str


@attrs.frozen(kw_only=True)
class Complete:
    """Finish the workflow now, successfully; later phases do not run."""


@attrs.frozen(kw_only=True)
class Error:
    """Fail the job."""

    error: PhaseError


PhaseTransition = Continue | Skip | Complete | Error


@runtime_checkable
class PhaseExecutor(Protocol):
    """One phase: decides what happens and delegates the doing.

    Implementations are attrs classes. `name` is the machine state the phase owns.
    A phase that runs the job's work items also sets the class attribute
    `processes_items = True` (see `processes_items` below): `dlq retry` re-enters it,
    and `status`, `jobs` and `dlq` read item counts from its progress. At most one
    phase of a job may declare it; it is False when absent.
    """

    @property
    def name(self) -> str: ...

    async def execute(self, context: PhaseContext) -> PhaseResult: ...

    def can_skip(self, context: PhaseContext) -> str | None:
        """The reason this phase has nothing to do, or None when it must run."""
        ...


def processes_items(phase: PhaseExecutor) -> bool:
    """Whether the phase declares that it runs the job's work items."""
    return getattr(phase, "processes_items", False) is True


def item_phase(phases: Sequence[PhaseExecutor]) -> str | None:
    """The name of the one phase that processes items, or None when none does.

    Raises ValueError when more than one declares it: `dlq retry` would not know which
    to re-enter.
    """
    names = [phase.name for phase in phases if processes_items(phase)]
    if len(names) > 1:
        raise ValueError(f"only one phase may process items, but {names} all declare it")
    return names[0] if names else None


class PhaseTransitionHandler(Protocol):
    """Hooks that let an embedding program steer the coordinator."""

    def should_execute(self, phase: str, context: PhaseContext) -> bool: ...

    def on_phase_complete(self, phase: str, result: PhaseResult) -> None: ...

    def on_phase_error(self, phase: str, error: PhaseError) -> PhaseTransition: ...


class DefaultTransitionHandler:
    """Today's semantics: run every phase, fail the job on any phase error."""

    def should_execute(self, phase: str, context: PhaseContext) -> bool:
        return True

    def on_phase_complete(self, phase: str, result: PhaseResult) -> None:
        return None

    def on_phase_error(self, phase: str, error: PhaseError) -> PhaseTransition:
        return Error(error=error)
