"""CircuitBreaker: its states under a fake clock, the half-open limit, events, and a model check."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mapreduce_fsm.config.model import CircuitBreakerConfig
from mapreduce_fsm.policy import CircuitBreaker, CircuitState


@attrs.define
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class Recorder:
    changes: list[tuple[CircuitState, CircuitState, str]] = attrs.field(factory=list)

    def __call__(self, old: CircuitState, new: CircuitState, reason: str) -> None:
        self.changes.append((old, new, reason))

    def moves(self) -> list[tuple[str, str]]:
        return [(old, new) for old, new, _ in self.changes]


def breaker(**settings: float) -> tuple[CircuitBreaker, FakeClock, Recorder]:
    clock, recorder = FakeClock(), Recorder()
    config = CircuitBreakerConfig(**settings)  # type: ignore[arg-type]
    return CircuitBreaker(config, clock=clock, on_change=recorder), clock, recorder


def fail(circuit: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert circuit.try_acquire()
        circuit.record_failure()


def test_consecutive_failures_open_it_and_a_success_resets_the_run() -> None:
    circuit, _, recorder = breaker(failure_threshold=3, timeout=30)
    fail(circuit, 2)
    assert circuit.try_acquire()
    circuit.record_success()
    fail(circuit, 2)
    assert circuit.state == "closed" and recorder.changes == []
    fail(circuit, 1)
    assert circuit.state == "open"
    assert recorder.changes == [
        ("closed", "open", "3 items failed in a row; holding new items for 30s")
    ]


def test_full_cycle_closed_open_half_open_closed() -> None:
    circuit, clock, recorder = breaker(failure_threshold=2, success_threshold=2, timeout=30,
                                       half_open_requests=1)
    fail(circuit, 2)
    assert not circuit.try_acquire()
    assert circuit.seconds_until_retry() == 30
    clock.now = 29.5
    assert not circuit.try_acquire()
    assert circuit.seconds_until_retry() == 0.5
    clock.now = 30
    assert circuit.try_acquire()
    assert circuit.state == "half_open" and circuit.seconds_until_retry() == 0
    assert not circuit.try_acquire()  # one probe at a time
    circuit.record_success()
    assert circuit.state == "half_open"
    assert circuit.try_acquire()
    circuit.record_success()
    assert circuit.state == "closed"
    assert recorder.moves() == [("closed", "open"), ("open", "half_open"),
                                ("half_open", "closed")]
    assert "letting 1 item(s) through" in recorder.changes[1][2]
    assert recorder.changes[2][2] == "2 item(s) succeeded while half-open"
    assert all(circuit.try_acquire() for _ in range(10))


def test_a_failed_probe_reopens_it_and_gives_up() -> None:
    circuit, clock, recorder = breaker(failure_threshold=1, timeout=10)
    fail(circuit, 1)
    assert circuit.gave_up is None  # the first opening is a cool-down, not the end
    clock.now = 10
    assert circuit.try_acquire()
    clock.now = 14
    circuit.record_failure()
    assert circuit.state == "open"
    reason = "an item failed while half-open, after the 10s cool-down: the failures go on"
    assert recorder.changes[-1] == ("half_open", "open", reason)
    assert circuit.gave_up == reason
    assert circuit.seconds_until_retry() == 10
    clock.now = 23.9
    assert not circuit.try_acquire()
    clock.now = 24
    assert circuit.try_acquire()


def test_half_open_requests_limits_the_items_running_at_once() -> None:
    circuit, clock, _ = breaker(failure_threshold=1, success_threshold=5, timeout=1,
                                half_open_requests=3)
    fail(circuit, 1)
    clock.now = 1
    assert [circuit.try_acquire() for _ in range(5)] == [True, True, True, False, False]
    circuit.release()  # a cancelled probe frees its place without counting
    assert circuit.try_acquire()
    assert not circuit.try_acquire()
    circuit.record_success()
    assert circuit.state == "half_open"
    assert circuit.try_acquire()


def test_items_still_running_from_before_the_opening_take_half_open_places() -> None:
    circuit, clock, _ = breaker(failure_threshold=1, timeout=5, half_open_requests=1)
    assert circuit.try_acquire()  # a slow item, still running throughout
    fail(circuit, 1)
    clock.now = 5
    assert not circuit.try_acquire()
    assert circuit.state == "half_open"
    circuit.record_success()  # the slow item ends, and counts as evidence
    assert circuit.try_acquire()


def test_failures_of_stragglers_while_open_do_not_restart_the_timer() -> None:
    circuit, clock, recorder = breaker(failure_threshold=1, timeout=10)
    assert circuit.try_acquire()
    fail(circuit, 1)
    clock.now = 8
    circuit.record_failure()
    assert circuit.state == "open" and circuit.seconds_until_retry() == 2
    assert len(recorder.changes) == 1


def test_without_on_change_it_still_works() -> None:
    circuit = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1))
    fail(circuit, 1)
    assert circuit.state == "open" and not circuit.try_acquire()


@attrs.define
class CircuitModel:
    """The rules written out plainly, independent of the implementation."""

    failure_threshold: int
    success_threshold: int
    timeout: float
    half_open_requests: int
    state: str = "closed"
    running: int = 0
    failures_in_a_row: int = 0
    successes_since_half_open: int = 0
    open_until: float = 0.0
    moves: list[tuple[str, str]] = attrs.field(factory=list)

    def go(self, new: str) -> None:
        self.moves.append((self.state, new))
        self.state = new

    def acquire(self, now: float) -> bool:
        if self.state == "open" and now >= self.open_until:
            self.go("half_open")
            self.successes_since_half_open = 0
        allowed = self.state == "closed" or (
            self.state == "half_open" and self.running < self.half_open_requests
        )
        if allowed:
            self.running += 1
        return allowed

    def success(self) -> None:
        self.running -= 1
        self.failures_in_a_row = 0
        if self.state == "half_open":
            self.successes_since_half_open += 1
            if self.successes_since_half_open == self.success_threshold:
                self.go("closed")

    def failure(self, now: float) -> None:
        self.running -= 1
        self.failures_in_a_row += 1
        if self.state == "half_open" or (
            self.state == "closed" and self.failures_in_a_row >= self.failure_threshold
        ):
            self.go("open")
            self.open_until = now + self.timeout

    def cancel(self) -> None:
        self.running -= 1


class CircuitMachine(RuleBasedStateMachine):
    @initialize(
        failure_threshold=st.integers(1, 4), success_threshold=st.integers(1, 3),
        timeout=st.integers(0, 20), half_open_requests=st.integers(1, 3),
    )
    def configure(self, failure_threshold: int, success_threshold: int, timeout: int,
                  half_open_requests: int) -> None:
        self.clock, self.recorder = FakeClock(), Recorder()
        self.breaker = CircuitBreaker(
            CircuitBreakerConfig(failure_threshold=failure_threshold,
                                 success_threshold=success_threshold, timeout=timeout,
                                 half_open_requests=half_open_requests),
            clock=self.clock, on_change=self.recorder,
        )
        self.model = CircuitModel(failure_threshold, success_threshold, timeout,
                                  half_open_requests)

    def holding(self) -> bool:
        return self.model.running > 0

    @rule(seconds=st.integers(0, 15))
    def wait(self, seconds: int) -> None:
        self.clock.now += seconds

    @rule()
    def acquire(self) -> None:
        assert self.breaker.try_acquire() == self.model.acquire(self.clock.now)

    @precondition(holding)
    @rule()
    def succeed(self) -> None:
        self.breaker.record_success()
        self.model.success()

    @precondition(holding)
    @rule()
    def fail(self) -> None:
        self.breaker.record_failure()
        self.model.failure(self.clock.now)

    @precondition(holding)
    @rule()
    def cancel(self) -> None:
        self.breaker.release()
        self.model.cancel()

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.breaker.state == self.model.state
        assert self.recorder.moves() == self.model.moves
        expected_wait = (max(0.0, self.model.open_until - self.clock.now)
                         if self.model.state == "open" else 0.0)
        assert self.breaker.seconds_until_retry() == expected_wait


TestCircuitAgainstModel = CircuitMachine.TestCase
