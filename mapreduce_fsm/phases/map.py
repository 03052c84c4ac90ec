"""The map phase: load the items, run the ones without a final result, record each as it ends.

A dead-lettered item runs again only when its result was taken away (`dlq retry`). It
then starts a fresh round of attempts: only attempts made after its DLQ entry was
added count, so it gets the whole retry budget again, and if it fails again its new
attempts are appended to the history kept in its DLQ entry. If it succeeds it leaves
the DLQ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import attrs

from mapreduce_fsm.agents import Agent, AgentOutcome
from mapreduce_fsm.agents.scheduler import ItemScheduler, PendingItem, SchedulerHooks
from mapreduce_fsm.backends import Backend, LocalBackend
from mapreduce_fsm.commands import interpolate
from mapreduce_fsm.config.model import ErrorPolicy, MapConfig, RetryConfig
from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.types import PhaseMetrics, PhaseResult
from mapreduce_fsm.policy import CircuitBreaker, FailureBudget, error_signature
from mapreduce_fsm.state import ItemAttempt
from mapreduce_fsm.state.records import FAILURE_STATUSES, AttemptRecord, DlqEntry, ItemResult
from mapreduce_fsm.workitems import WorkItem, WorkItems, load_work_items


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def effective_retry(policy: ErrorPolicy) -> RetryConfig | None:
    """Retries happen when `retry_config` is given, or by default for `on_item_failure: retry`."""
    if policy.retry_config is not None:
        return policy.retry_config
    return RetryConfig() if policy.on_item_failure == "retry" else None


@attrs.frozen(kw_only=True)
class MapPhase:
    """Orchestrates the map: what to run and what each ending means; items run on a backend."""

    config: MapConfig
    policy: ErrorPolicy = attrs.field(factory=ErrorPolicy)
    name: str = "map"
    processes_items = True  # a capability, not a field: `dlq retry` re-enters this phase
    backend_factory: Callable[[int], Backend] = lambda capacity: LocalBackend(capacity=capacity)

    def can_skip(self, context: PhaseContext) -> str | None:
        return None  # whether there are items is known only once they are loaded

    def validate(self, context: PhaseContext) -> list[str]:
        return []

    async def execute(self, context: PhaseContext) -> PhaseResult:
        started = time.monotonic()
        items = await self.load_items(context)
        if not items.items:
            return PhaseResult.skipped(self.name, f"no work items in {items.origin}")
        finished = {
            item_id: result
            for item_id, result in context.store.results.load().results.items()
        }
        dead_lettered = self.dead_letters(context, finished)
        attempts = current_round(context.store.attempts.load(), dead_lettered)
        pending = self.pending_items(items, finished, attempts)
        total, already = len(items.items), len(items.items) - len(pending)
        context.emit("map.started", phase=self.name, total=total, already_done=already,
                     origin=items.origin)
        context.update_progress(self.name, data={**context.progress(self.name).data,
                                                 "total": total})
        recorder = _ItemRecorder(context, self.name, self.policy, attempts, dead_lettered)
        scheduler = ItemScheduler(
            backend=self.backend_factory(context.options.max_parallel or self.config.max_parallel),
            agent=self.build_agent(context, total),
            hooks=recorder.hooks(),
            budget=self.budget(context, finished),
            retry=effective_retry(self.policy),
            breaker=self.breaker(context),
        )
        pending_ids = {entry.item.id for entry in pending}
        already_failed = sum(1 for item_id, result in finished.items()
                             if item_id not in pending_ids and result.status in FAILURE_STATUSES)
        context.progress_reporter.start(total, already_done=already, already_failed=already_failed)
        try:
            decision = await scheduler.run(pending)
        finally:
            context.progress_reporter.close()
            context.store.results.sync()
            context.forget_map_results()
        counts = recorder.counts
        metrics = PhaseMetrics(
            duration_secs=time.monotonic() - started,
            items_processed=counts["success"] + counts["failed"],
            items_successful=counts["success"],
            items_failed=counts["failed"],
        )
        data = {"total": total, "already_done": already, **counts}
        if decision is not None:
            return PhaseResult.failed(self.name, decision.reason, data=data, metrics=metrics)
        return PhaseResult.completed(self.name, data=data, metrics=metrics)

    async def load_items(self, context: PhaseContext) -> WorkItems:
        spec = interpolate(self.config.input, context.base_variables(), where="map.input")
        items = await load_work_items(
            self.config, input_spec=spec, cwd=context.working_dir, env=context.process_env()
        )
        for warning in items.warnings:
            context.interaction.display_warning(warning)
            context.emit("map.warning", phase=self.name, message=warning)
        recorded = context.keeper.checkpoint.input_digest
        if recorded is not None and recorded != items.digest:
            if not context.options.force:
                raise JobStateError(
                    f"the map's input items changed since job {context.job_id} started "
                    f"({items.origin} now gives {len(items.items)} items that differ); "
                    "resuming would mix results of two inputs. Re-run with --force to resume "
                    "anyway, or start a new job."
                )
            context.interaction.display_warning("the input items changed; --force: going on")
        if recorded != items.digest:
            context.keeper.update(input_digest=items.digest)
        return items

    def dead_letters(
        self, context: PhaseContext, finished: dict[str, ItemResult]
    ) -> dict[str, DlqEntry]:
        """The DLQ by item id, without entries of items that succeeded (a crash between
        recording the success and removing the entry leaves one behind)."""
        entries = {entry.item_id: entry for entry in context.store.dlq.load()}
        recovered = [
            item_id for item_id in entries
            if item_id in finished and finished[item_id].status == "success"
        ]
        if recovered:
            context.store.dlq.remove(recovered)
        return {item_id: entry for item_id, entry in entries.items() if item_id not in recovered}

    def pending_items(
        self,
        items: WorkItems,
        finished: dict[str, ItemResult],
        attempts: dict[str, list[ItemAttempt]],
    ) -> list[PendingItem]:
        """Items with no final result, with their attempt count and backoff kept across a crash."""
        now_wall, now_mono = datetime.now(UTC), time.monotonic()
        pending = []
        for item in items.items:
            if item.id in finished:
                continue
            history = attempts.get(item.id, [])
            if not history:
                pending.append(PendingItem(item=item))
                continue
            last = history[-1]
            wait = 0.0
            if last.retry_at is not None:
                wait = max(0.0, (_parse_time(last.retry_at) - now_wall).total_seconds())
            pending.append(
                PendingItem(item=item, attempt=last.attempt + 1, not_before=now_mono + wait)
            )
        return pending

    def build_agent(self, context: PhaseContext, total: int) -> Agent:
        return Agent(
            template=self.config.agent_template,
            variables=context.base_variables(),
            step_context=context.step_context(),
            item_total=total,
            timeout=self.config.agent_timeout_secs,
            runner=context.runner,
        )

    def budget(self, context: PhaseContext, finished: dict[str, ItemResult]) -> FailureBudget:
        # Resuming a failed map, or retrying dead letters, is the user's decision to go on:
        # old failures don't count.
        if context.resumed_from in (fsm.FAILED, fsm.RETRY_ITEMS):
            return FailureBudget(policy=self.policy)
        return FailureBudget.from_results(self.policy, finished.values())

    def breaker(self, context: PhaseContext) -> CircuitBreaker | None:
        if self.policy.circuit_breaker is None:
            return None

        def changed(old: str, new: str, reason: str) -> None:
            context.emit(f"circuit.{new}", phase=self.name, previous=old, reason=reason)
            context.progress_reporter.note(f"circuit breaker {new}: {reason}")

        return CircuitBreaker(config=self.policy.circuit_breaker, on_change=changed)


def current_round(
    attempts: dict[str, list[ItemAttempt]], dead_lettered: Mapping[str, DlqEntry]
) -> dict[str, list[ItemAttempt]]:
    """Each item's attempts in its current round: for a dead-lettered item, those made
    after its DLQ entry was added (the earlier ones are in the entry's history)."""
    current = {}
    for item_id, history in attempts.items():
        entry = dead_lettered.get(item_id)
        if entry is not None:
            history = [attempt for attempt in history if attempt.at > entry.added_at]
        if history:
            current[item_id] = history
    return current


@attrs.define
class _ItemRecorder:
    """Writes what happens to items: attempts, final results, the DLQ, events, progress."""

    context: PhaseContext
    phase: str
    policy: ErrorPolicy
    history: dict[str, list[ItemAttempt]]  # failed attempts per item, loaded once, kept current
    dead_lettered: dict[str, DlqEntry]  # the DLQ as the map started, kept current
    counts: dict[str, int] = attrs.field(
        factory=lambda: {"success": 0, "failed": 0, "skipped": 0, "dead_lettered": 0}
    )

    def hooks(self) -> SchedulerHooks:
        return SchedulerHooks(
            started=self.started, attempt_failed=self.attempt_failed,
            finished=self.finished, note=self.note,
        )

    def started(self, item: WorkItem, attempt: int) -> None:
        self.context.progress_reporter.item_started(item.id)
        self.context.emit("item.started", phase=self.phase, item_id=item.id, attempt=attempt)

    def attempt_failed(self, item: WorkItem, outcome: AgentOutcome, delay: float | None) -> None:
        result = outcome.result
        retry_at = None
        if delay is not None:
            retry_at = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
        attempt = ItemAttempt(
            item_id=item.id, attempt=result.attempts, status=result.status, error=result.error,
            exit_code=result.exit_code, failed_step=result.failed_step,
            stderr_tail=outcome.stderr_tail, at=result.finished_at, retry_at=retry_at,
        )
        self.context.store.attempts.append(attempt)
        self.history.setdefault(item.id, []).append(attempt)
        if delay is not None:
            self.context.emit("item.retry_scheduled", phase=self.phase, item_id=item.id,
                              attempt=result.attempts, delay_secs=round(delay, 3),
                              error=result.error)

    def finished(self, item: WorkItem, outcome: AgentOutcome) -> str:
        result = outcome.result
        if result.status != "success" and self.policy.on_item_failure == "skip":
            result = attrs.evolve(result, status="skipped")
        if result.status in FAILURE_STATUSES and self.policy.on_item_failure != "skip":
            # The entry is durable before the result: a crash between the two leaves an
            # item without a result, which runs again, never a failure missing from the DLQ.
            self.dead_letter(item, result)
        self.context.store.results.append(result)
        self.counts["failed" if result.status == "timeout" else result.status] += 1
        if result.status == "success" and self.dead_lettered.pop(item.id, None) is not None:
            self.context.store.results.sync()  # the result is durable before the entry goes
            self.context.store.dlq.remove([item.id])
            self.context.emit("item.left_dlq", phase=self.phase, item_id=item.id)
        self.context.progress_reporter.item_finished(item.id, result.status)
        self.context.emit("item.finished", phase=self.phase, item_id=item.id,
                          status=result.status, attempts=result.attempts,
                          duration_secs=result.duration_secs, error=result.error)
        return result.status

    def dead_letter(self, item: WorkItem, result: ItemResult) -> None:
        """Add the item to the DLQ; an item already there gets this round's attempts appended
        to its history, numbered on from the earlier rounds'."""
        earlier = self.dead_lettered.get(item.id)
        previous = earlier.attempts if earlier is not None else ()
        records = previous + tuple(
            AttemptRecord(attempt=len(previous) + a.attempt, status=a.status, error=a.error,
                          exit_code=a.exit_code, failed_step=a.failed_step,
                          stderr_tail=a.stderr_tail, at=a.at)
            for a in self.history.get(item.id, [])
        )
        entry = DlqEntry(
            item_id=item.id, item_index=item.index, item=item.value, attempts=records,
            signature=error_signature(result.error, result.failed_step, result.exit_code),
            added_at=utc_now(),
        )
        self.context.store.dlq.add(entry)
        self.dead_lettered[item.id] = entry
        self.counts["dead_lettered"] += 1
        self.context.emit("item.dead_lettered", phase=self.phase, item_id=item.id,
                          attempts=result.attempts, error=result.error)

    def note(self, message: str) -> None:
        self.context.progress_reporter.note(message)
        self.context.emit("map.note", phase=self.phase, message=message)
