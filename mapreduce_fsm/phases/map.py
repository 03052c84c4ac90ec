"""The map phase: load the items, run the ones without a final result, record each as it ends.

What is recorded where (results, attempts, the DLQ, and a dead-lettered item's rounds)
is the ledger's business (`state.ledger`); items run on a backend as work orders.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import attrs

from mapreduce_fsm.agents import AgentSpec, ItemOutcome
from mapreduce_fsm.backends import Backend, LocalBackend
from mapreduce_fsm.commands import interpolate
from mapreduce_fsm.config.model import ErrorPolicy, MapConfig, RetryConfig
from mapreduce_fsm.convert import format_timestamp, parse_timestamp
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.git import GitSession, ItemIsolation
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.failure_report import FailureReport
from mapreduce_fsm.phases.map_scheduler import ItemScheduler, PendingItem, SchedulerHooks
from mapreduce_fsm.phases.types import PhaseMetrics, PhaseResult
from mapreduce_fsm.policy import CircuitBreaker, FailureBudget, error_signature
from mapreduce_fsm.state import MapLedger
from mapreduce_fsm.state.logs import StepLogs
from mapreduce_fsm.state.records import FAILURE_STATUSES, AttemptRecord
from mapreduce_fsm.workitems import WorkItem, WorkItems, load_work_items


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

    async def execute(self, context: PhaseContext) -> PhaseResult:
        started = time.monotonic()
        isolation = self.isolation(context)
        if isolation is not None:
            await isolation.prepare_session()  # the input is read in the session worktree
        items = await self.load_items(context)
        if not items.items:
            reason = f"no work items in {items.origin}"
            if not items.warnings:  # a selection that kept nothing has said which stage
                warning = f"{reason}: the map is skipped"
                context.interaction.display_warning(warning)
                context.emit("map.warning", phase=self.name, message=warning)
            context.update_progress(self.name, data={**context.progress(self.name).data,
                                                     "total": 0})  # known: none
            return PhaseResult.skipped(self.name, reason)
        if isolation is None:
            return await self.run_items(context, items, started, None)
        await isolation.start()
        try:
            return await self.run_items(context, items, started, isolation)
        finally:
            await isolation.close()

    def isolation(self, context: PhaseContext) -> ItemIsolation | None:
        session = GitSession.load(context.store.path)
        if session is None:
            return None
        return ItemIsolation.for_job(session, context.store.path, context.job_id)

    async def run_items(self, context: PhaseContext, items: WorkItems, started: float,
                        isolation: ItemIsolation | None) -> PhaseResult:
        ledger = MapLedger.load(context.store)
        recorder = _ItemRecorder(context, self.name, self.policy, ledger,
                                 StepLogs.of(context.store.path, self.name))
        recorder.report = FailureReport(mode=self.policy.error_collection, note=recorder.note,
                                        batch_size=self.policy.error_batch_size or 1)
        timeouts = self.config.timeout_config
        recorder.skip_timeouts = timeouts is not None and timeouts.timeout_action == "skip"
        if isolation is not None:
            await self.recover_merges(isolation, items, ledger, recorder)
        pending = self.pending_items(items, ledger)
        by_status = Counter(ledger.finished.values())  # the final results already journaled
        total, already = len(items.items), len(items.items) - len(pending)
        backend = self.backend_factory(context.options.max_parallel or self.config.max_parallel)
        context.emit("map.started", phase=self.name, total=total, already_done=already,
                     origin=items.origin, backend=backend.name)
        context.update_progress(self.name, data={**context.progress(self.name).data,
                                                 "total": total})
        scheduler = ItemScheduler(
            backend=backend,
            spec=self.agent_spec(context, total),
            hooks=recorder.hooks(),
            budget=self.budget(context, by_status),
            retry=effective_retry(self.policy),
            breaker=self.breaker(context),
            isolation=isolation,
        )
        # A pending item has no final result: every failure counted is of an item done.
        already_failed = sum(by_status[status] for status in FAILURE_STATUSES)
        context.progress_reporter.start(total, already_done=already, already_failed=already_failed)
        try:
            decision = await scheduler.run(pending)
        finally:
            recorder.report.close()
            context.progress_reporter.close()
            recorder.logs.close()
            ledger.sync()
            context.forget_map_results()
        counts = ledger.counts
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

    async def recover_merges(self, isolation: ItemIsolation, items: WorkItems,
                             ledger: MapLedger, recorder: _ItemRecorder) -> None:
        """Journal the items whose merge a crash cut, once their merge is finished."""
        failed_attempts = {item_id: max((a.attempt for a in ledger.attempts_of(item_id)),
                                        default=0) for item_id in items.items.ids()}
        index_of = {item_id: index for index, item_id in enumerate(items.items.ids())}
        for outcome in await isolation.recover(set(ledger.finished), failed_attempts):
            index = index_of.get(outcome.result.item_id)
            if index is not None:
                recorder.recovered(items.items[index], outcome)

    def pending_items(self, items: WorkItems, ledger: MapLedger) -> list[PendingItem]:
        """Items with no final result, with their attempt count and backoff kept across a crash."""
        now_wall, now_mono = datetime.now(UTC), time.monotonic()
        pending = []
        finished = ledger.finished
        # The indexes of items without a final result, picked in C: most items of a resumed
        # big map are done, and no WorkItem is made for them.
        done = map(finished.__contains__, items.items.ids())
        for index in itertools.compress(itertools.count(), map(operator.not_, done)):
            item = items.items[index]
            history = ledger.attempts_of(item.id)
            if not history:
                pending.append(PendingItem(item=item))
                continue
            last = history[-1]
            wait = 0.0
            if last.retry_at is not None:
                wait = max(0.0, (parse_timestamp(last.retry_at) - now_wall).total_seconds())
            pending.append(
                PendingItem(item=item, attempt=last.attempt + 1, not_before=now_mono + wait)
            )
        return pending

    def agent_spec(self, context: PhaseContext, total: int) -> AgentSpec:
        """What every item's work order shares."""
        return AgentSpec(
            steps=self.config.agent_template,
            variables=context.base_variables(),
            item_total=total,
            cwd=str(context.working_dir),
            env=context.process_env(),
            secrets=context.masker.values,
            timeout_secs=self.config.agent_timeout_secs,
            kill_grace_secs=(context.options.kill_grace_secs if self.config.kill_grace_secs
                             is None else self.config.kill_grace_secs),
            fail_on_timeout=(self.config.timeout_config is not None
                             and self.config.timeout_config.timeout_action == "fail"),
        )

    def budget(self, context: PhaseContext, by_status: Mapping[str, int]) -> FailureBudget:
        # Resuming a failed map, or retrying dead letters, is the user's decision to go on:
        # old failures don't count.
        if context.resumed_from in (fsm.FAILED, fsm.RETRY_ITEMS):
            return FailureBudget(policy=self.policy)
        return FailureBudget.from_counts(self.policy, by_status)

    def breaker(self, context: PhaseContext) -> CircuitBreaker | None:
        if self.policy.circuit_breaker is None:
            return None

        def changed(old: str, new: str, reason: str) -> None:
            context.emit(f"circuit.{new}", phase=self.name, previous=old, reason=reason)
            context.progress_reporter.note(f"circuit breaker {new}: {reason}")

        return CircuitBreaker(config=self.policy.circuit_breaker, on_change=changed)


@attrs.define
class _ItemRecorder:
    """Tells the ledger, the events and the progress display what happens to items."""

    context: PhaseContext
    phase: str
    policy: ErrorPolicy
    ledger: MapLedger
    logs: StepLogs  # each attempt's step output, by item
    report: FailureReport | None = None  # error_collection
    skip_timeouts: bool = False  # timeout_config.timeout_action: skip

    def hooks(self) -> SchedulerHooks:
        return SchedulerHooks(
            started=self.started, attempt_failed=self.attempt_failed,
            finished=self.finished, note=self.note,
        )

    def started(self, item: WorkItem, attempt: int) -> None:
        self.context.progress_reporter.item_started(item.id)
        self.context.emit("item.started", phase=self.phase, item_id=item.id, attempt=attempt)

    def attempt_failed(self, item: WorkItem, outcome: ItemOutcome, delay: float | None) -> None:
        self.worker_lost(item, outcome)
        result = outcome.result
        if delay is not None:  # a last attempt's output is written when the item finishes
            self.logs.append(outcome.step_outputs, item_id=item.id, attempt=result.attempts)
        retry_at = None
        if delay is not None:
            retry_at = format_timestamp(datetime.now(UTC) + timedelta(seconds=delay))
        self.ledger.record_attempt(AttemptRecord(
            item_id=item.id, attempt=result.attempts, status=result.status, error=result.error,
            exit_code=result.exit_code, failed_step=result.failed_step,
            stderr_tail=outcome.stderr_tail, at=result.finished_at, retry_at=retry_at,
        ))
        if delay is not None:
            self.context.progress_reporter.item_waiting(item.id, delay)
            self.context.emit("item.retry_scheduled", phase=self.phase, item_id=item.id,
                              attempt=result.attempts, delay_secs=round(delay, 3),
                              error=result.error)

    def worker_lost(self, item: WorkItem, outcome: ItemOutcome) -> None:
        """A backend re-ran the attempt after its worker died: an event, not an attempt."""
        if outcome.worker_losses:
            self.context.emit("item.worker_lost", phase=self.phase, item_id=item.id,
                              losses=outcome.worker_losses, finished_on=outcome.worker)

    def finished(self, item: WorkItem, outcome: ItemOutcome) -> str:
        self.worker_lost(item, outcome)
        result = outcome.result
        self.logs.append(outcome.step_outputs, item_id=item.id, attempt=result.attempts)
        skip = self.policy.on_item_failure == "skip" or (
            self.skip_timeouts and result.status == "timeout")
        if result.status in FAILURE_STATUSES and self.report is not None:
            self.report.failed(item.id, result.error)
        if result.status != "success" and skip:
            result = attrs.evolve(result, status="skipped")
        signature = None
        if result.status in FAILURE_STATUSES and not skip:
            signature = error_signature(result.error, result.failed_step, result.exit_code)
        recorded = self.ledger.record_result(result, dead_letter_signature=signature)
        if recorded.dead_letter is not None:
            self.context.emit("item.dead_lettered", phase=self.phase, item_id=item.id,
                              attempts=result.attempts, error=result.error)
        if recorded.left_dlq:
            self.context.emit("item.left_dlq", phase=self.phase, item_id=item.id)
        self.context.progress_reporter.item_finished(item.id, result.status)
        self.context.emit("item.finished", phase=self.phase, item_id=item.id,
                          status=result.status, attempts=result.attempts,
                          duration_secs=result.duration_secs, error=result.error)
        return result.status

    def recovered(self, item: WorkItem, outcome: ItemOutcome) -> None:
        """A succeeded item whose merge was finished after a crash: journal its result now."""
        result = outcome.result
        self.ledger.record_result(result, dead_letter_signature=None)
        self.context.emit("item.finished", phase=self.phase, item_id=item.id,
                          status=result.status, attempts=result.attempts,
                          duration_secs=result.duration_secs, error=result.error,
                          recovered=True)

    def note(self, message: str) -> None:
        self.context.progress_reporter.note(message)
        self.context.emit("map.note", phase=self.phase, message=message)
