"""The map's item scheduler on a scripted backend: no subprocesses, each attempt's end chosen."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import attrs
import pytest

from mapreduce_fsm.agents import AgentSpec, ItemOutcome, WorkOrder
from mapreduce_fsm.config.model import (
    Backoff,
    CircuitBreakerConfig,
    ErrorPolicy,
    RetryConfig,
)
from mapreduce_fsm.phases.map_scheduler import ItemScheduler, PendingItem, SchedulerHooks
from mapreduce_fsm.policy import CircuitBreaker, FailureBudget
from mapreduce_fsm.state.records import ItemResult, ItemStatus
from mapreduce_fsm.workitems import WorkItem


@attrs.define
class ScriptedBackend:
    """Each attempt's status comes from `script(item, attempt)`; it may raise instead."""

    script: Callable[[WorkItem, int], ItemStatus]
    capacity: int = 2
    attempts: Counter[str] = attrs.field(factory=Counter)
    fail_workflow: frozenset[str] = frozenset()  # items whose failed step has fail_workflow

    async def run(self, order: WorkOrder) -> ItemOutcome:
        item = WorkItem(id=order.item_id, index=order.item_index, value=order.item)
        self.attempts[item.id] += 1
        await asyncio.sleep(0)
        status = self.script(item, order.attempt)
        return ItemOutcome(result=ItemResult(
            item_id=item.id, item_index=item.index, item=item.value, status=status,
            attempts=order.attempt, error=None if status == "success" else "step 'work': boom"),
            fail_workflow=status != "success" and item.id in self.fail_workflow)


@attrs.define
class Recorder:
    started: list[tuple[str, int]] = attrs.field(factory=list)
    finished: dict[str, ItemStatus] = attrs.field(factory=dict)

    def hooks(self) -> SchedulerHooks:
        def finish(item: WorkItem, outcome: ItemOutcome) -> str:
            self.finished[item.id] = outcome.result.status
            return outcome.result.status

        return SchedulerHooks(
            started=lambda item, attempt: self.started.append((item.id, attempt)),
            attempt_failed=lambda item, outcome, delay: None,
            finished=finish,
            note=lambda text: None,
        )


def items(count: int) -> list[PendingItem]:
    return [PendingItem(item=WorkItem(id=f"i{n}", index=n, value=n)) for n in range(count)]


def scheduler(backend: ScriptedBackend, recorder: Recorder,
              policy: ErrorPolicy | None = None) -> ItemScheduler:
    policy = policy or ErrorPolicy()
    spec = AgentSpec(steps=(), variables={}, item_total=0, cwd=".", env={})
    breaker = None if policy.circuit_breaker is None else CircuitBreaker(policy.circuit_breaker)
    return ItemScheduler(backend=backend, spec=spec, hooks=recorder.hooks(),
                         budget=FailureBudget(policy), retry=policy.retry_config,
                         breaker=breaker)


def test_retries_that_become_due_together_all_run_to_their_final_attempt() -> None:
    # Regression: with more slots than due retries, the scheduler once asked for the next
    # item before the just-created tasks had run, saw nothing active, and ended the map,
    # dropping the retries those tasks would schedule (a 3-item job completed 2 of 3).
    backend = ScriptedBackend(
        script=lambda item, attempt: "success" if attempt == 3 else "failed", capacity=4)
    recorder = Recorder()
    retry = RetryConfig(max_attempts=3, backoff=Backoff(kind="fixed", initial=0.01))
    asyncio.run(scheduler(backend, recorder, ErrorPolicy(retry_config=retry)).run(items(3)))
    assert recorder.finished == {"i0": "success", "i1": "success", "i2": "success"}
    assert backend.attempts == {"i0": 3, "i1": 3, "i2": 3}


def test_never_more_items_at_once_than_the_backend_capacity() -> None:
    running = 0
    peak = 0

    @attrs.define
    class Slow(ScriptedBackend):
        async def run(self, order: WorkOrder) -> ItemOutcome:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1
            return await super().run(order)

    backend = Slow(script=lambda item, attempt: "success", capacity=3)
    recorder = Recorder()
    asyncio.run(scheduler(backend, recorder).run(items(30)))
    assert peak == 3
    assert len(recorder.finished) == 30


def test_a_bug_while_running_an_item_stops_new_starts_and_is_raised() -> None:
    def script(item: WorkItem, attempt: int) -> ItemStatus:
        if item.id == "i1":
            raise RuntimeError("bug in a backend")
        return "success"

    backend = ScriptedBackend(script=script, capacity=2)
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="bug in a backend"):
        asyncio.run(scheduler(backend, recorder).run(items(50)))
    assert len(recorder.started) < 5, recorder.started


def test_fail_workflow_stops_the_map_at_once_without_retrying_the_item() -> None:
    backend = ScriptedBackend(script=lambda item, attempt: "failed" if item.id == "i1"
                              else "success", capacity=1, fail_workflow=frozenset({"i1"}))
    recorder = Recorder()
    retry = RetryConfig(max_attempts=3, backoff=Backoff(kind="fixed", initial=0.01))
    decision = asyncio.run(
        scheduler(backend, recorder, ErrorPolicy(retry_config=retry)).run(items(5)))
    assert decision is not None
    assert decision.reason == "item i1: step 'work': boom (on_failure has fail_workflow: true)"
    assert recorder.finished == {"i0": "success", "i1": "failed"}
    assert backend.attempts["i1"] == 1


def test_a_breaker_whose_probe_fails_stops_the_map() -> None:
    backend = ScriptedBackend(script=lambda item, attempt: "failed", capacity=1)
    recorder = Recorder()
    policy = ErrorPolicy(circuit_breaker=CircuitBreakerConfig(failure_threshold=2,
                                                              timeout=0.05))
    decision = asyncio.run(scheduler(backend, recorder, policy).run(items(10)))
    assert decision is not None and decision.reason.startswith(
        "circuit breaker: an item failed while half-open, after the 0.05s cool-down")
    assert list(recorder.finished) == ["i0", "i1", "i2"]  # two open it, the probe fails


def test_a_breaker_whose_probe_succeeds_lets_the_map_finish() -> None:
    backend = ScriptedBackend(script=lambda item, attempt: "failed" if item.index < 2
                              else "success", capacity=1)
    recorder = Recorder()
    policy = ErrorPolicy(circuit_breaker=CircuitBreakerConfig(failure_threshold=2,
                                                              timeout=0.05))
    decision = asyncio.run(scheduler(backend, recorder, policy).run(items(6)))
    assert decision is None
    assert len(recorder.finished) == 6
