"""Runs every pending item of the map through a backend under the error policy.

At most `backend.capacity` items run at once. A failed attempt that may be retried
waits in a timer heap, holding no slot. An open circuit breaker holds back new
starts; a stop decision (policy `stop`, `max_failures`, `failure_threshold`,
`continue_on_failure: false`, a step's `fail_workflow`, a circuit breaker that gives up)
stops new starts and lets running items end.
Cancelling `run` (Ctrl-C) cancels every running item, whose steps kill their
process groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from mapreduce_fsm.agents import AgentSpec, ItemOutcome
from mapreduce_fsm.backends import Backend
from mapreduce_fsm.config.model import RetryConfig
from mapreduce_fsm.git import ItemIsolation
from mapreduce_fsm.policy import CircuitBreaker, FailureBudget, StopDecision, retry_delay
from mapreduce_fsm.workitems import WorkItem


@attrs.frozen(kw_only=True)
class PendingItem:
    """An item still to run: its next attempt number and when it may start (monotonic)."""

    item: WorkItem
    attempt: int = 1
    not_before: float = 0.0


@attrs.define
class SchedulerHooks:
    """What the map phase does as items move; each is called from the event loop."""

    started: Callable[[WorkItem, int], None]
    # (item, outcome, delay): delay is the backoff before the next attempt, None when final
    attempt_failed: Callable[[WorkItem, ItemOutcome, float | None], None]
    finished: Callable[[WorkItem, ItemOutcome], str]  # records the final result, returns status
    note: Callable[[str], None]


@attrs.define
class ItemScheduler:
    """Starts items on the backend, retries failed attempts, stops when the policy says so."""

    backend: Backend
    spec: AgentSpec  # what every item's work order shares
    hooks: SchedulerHooks
    budget: FailureBudget
    retry: RetryConfig | None = None
    breaker: CircuitBreaker | None = None
    isolation: ItemIsolation | None = None  # worktree per item, merged before it is journaled
    rng: random.Random = attrs.field(factory=random.Random)
    stop_decision: StopDecision | None = None
    _ready: deque[PendingItem] = attrs.field(factory=deque)
    _delayed: list[tuple[float, int, PendingItem]] = attrs.field(factory=list)
    _running: set[asyncio.Task[None]] = attrs.field(factory=set)
    _wake: asyncio.Event = attrs.field(factory=asyncio.Event)
    _seq: int = 0
    _active: int = 0  # items started and not yet settled (tasks leave _running a bit later)
    _crash: BaseException | None = None  # a bug in running an item: stop starting, re-raise

    async def run(self, pending: Iterable[PendingItem]) -> StopDecision | None:
        """Run until every item has a final result or the policy stops the map."""
        now = time.monotonic()
        for entry in pending:
            self._push(entry) if entry.not_before > now else self._ready.append(entry)
        slots = asyncio.Semaphore(self.backend.capacity)
        try:
            while True:
                await slots.acquire()
                ready = await self._next()
                if ready is None:
                    slots.release()
                    break
                self._active += 1  # counted from now: `_next` must not end the map under it
                task = asyncio.create_task(self._run_one(ready, slots))
                self._running.add(task)
                task.add_done_callback(self._task_done)
            if self._crash is not None:
                raise self._crash
            if self._running:
                await asyncio.gather(*self._running)
        except BaseException:
            for task in self._running:
                task.cancel()
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            raise
        return self.stop_decision

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None and self._crash is None:
            self._crash = task.exception()
            self._wake.set()

    def _push(self, entry: PendingItem) -> None:
        self._seq += 1
        heapq.heappush(self._delayed, (entry.not_before, self._seq, entry))

    async def _next(self) -> PendingItem | None:
        """The next item to start, waiting for retries and the breaker; None when done."""
        while self.stop_decision is None and self._crash is None:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                self._ready.append(heapq.heappop(self._delayed)[2])
            wait: float | None = None
            if self._ready:
                if self.breaker is None or self.breaker.try_acquire():
                    return self._ready.popleft()
                wait = max(self.breaker.seconds_until_retry(), 0.05)
            elif not self._delayed and not self._active:
                return None
            if self._delayed:
                due = self._delayed[0][0] - now
                wait = due if wait is None else min(wait, due)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
        return None

    async def _run_one(self, entry: PendingItem, slots: asyncio.Semaphore) -> None:
        try:
            self.hooks.started(entry.item, entry.attempt)
            try:
                item = entry.item
                order = self.spec.order(item=item.value, item_id=item.id,
                                        item_index=item.index, attempt=entry.attempt)
                if self.isolation is None:
                    outcome = await self.backend.run(order)
                else:
                    outcome = await self.isolation.run(order, self.backend.run)
            except asyncio.CancelledError:
                if self.breaker is not None:
                    self.breaker.release()
                raise
            self._settle(entry, outcome)
        finally:
            self._active -= 1
            slots.release()
            self._wake.set()

    def _settle(self, entry: PendingItem, outcome: ItemOutcome) -> None:
        succeeded = outcome.result.status == "success"
        if self.breaker is not None:
            self.breaker.record_success() if succeeded else self.breaker.record_failure()
            if self.breaker.gave_up is not None:
                self._stop(StopDecision(reason=f"circuit breaker: {self.breaker.gave_up}"))
        if outcome.fail_workflow:
            self._stop(StopDecision(
                reason=f"item {entry.item.id}: {outcome.result.error} "
                f"({outcome.fail_reason})"))
        if not succeeded and self._may_retry(entry.attempt):
            assert self.retry is not None
            delay = retry_delay(self.retry, entry.attempt, rng=self.rng)
            self.hooks.attempt_failed(entry.item, outcome, delay)
            self._push(
                PendingItem(item=entry.item, attempt=entry.attempt + 1,
                            not_before=time.monotonic() + delay)
            )
            return
        if not succeeded:
            self.hooks.attempt_failed(entry.item, outcome, None)
        status = self.hooks.finished(entry.item, outcome)
        decision = self.budget.record(entry.item.id, status)
        if decision is not None:
            self._stop(decision)

    def _stop(self, decision: StopDecision) -> None:
        """Start no more items (the first decision sticks); running items end normally."""
        if self.stop_decision is None:
            self.stop_decision = decision
            self.hooks.note(f"stopping the map: {decision.reason}")

    def _may_retry(self, attempt: int) -> bool:
        return (
            self.retry is not None
            and attempt < self.retry.max_attempts
            and self.stop_decision is None
        )
