"""The circuit breaker: hold back new items after a run of failures, probe, stop if that fails.

Chosen semantics (`error_policy.circuit_breaker`):

- closed: items start freely. `failure_threshold` failures in a row (no success between
  them) open the circuit.
- open: no new item starts; items already running finish normally. Once `timeout`
  seconds have passed since it opened, the next `try_acquire` moves it to half-open.
- half_open: items start only while fewer than `half_open_requests` items are running
  (items that started before the circuit opened and are still running count too, so the
  number of items hitting a struggling service never exceeds the limit). Each success
  counts; `success_threshold` successes close the circuit. A failure means the service
  is still down after the cool-down: the circuit opens again and `gave_up` says why, and
  the map stops the way `max_failures` stops it (docs/workflow-format.md section 4), rather
  than feeding the failing service one item per `timeout` for as long as items last.

Every acquired slot must end with exactly one `record_success`, `record_failure` or
`release` (the last for an item that was cancelled and proved nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import attrs

from mapreduce_fsm.config.model import CircuitBreakerConfig

CircuitState = Literal["closed", "open", "half_open"]


@attrs.define
class CircuitBreaker:
    """Decides whether the next item may start; tells `on_change(old, new, reason)` each move.

    >>> ticks = iter([0.0, 31.0])
    >>> breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1, timeout=30),
    ...                          clock=lambda: next(ticks))
    >>> breaker.try_acquire()
    True
    >>> breaker.record_failure(); breaker.state
    'open'
    >>> breaker.try_acquire(), breaker.state
    (True, 'half_open')
    """

    config: CircuitBreakerConfig
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[CircuitState, CircuitState, str], None] | None = None
    state: CircuitState = attrs.field(default="closed", init=False)
    running: int = attrs.field(default=0, init=False)  # acquired and not yet ended
    consecutive_failures: int = attrs.field(default=0, init=False)
    probe_successes: int = attrs.field(default=0, init=False)  # while half-open
    opened_at: float = attrs.field(default=0.0, init=False)
    gave_up: str | None = attrs.field(default=None, init=False)  # a probe failed: stop the map

    def try_acquire(self) -> bool:
        """May an item start now? On True the caller holds a slot until the item ends."""
        if self.state == "open":
            if self.seconds_until_retry() > 0:
                return False
            self._move("half_open", f"{self.config.timeout:g}s passed since it opened; "
                       f"letting {self.config.half_open_requests} item(s) through to probe")
        if self.state == "half_open" and self.running >= self.config.half_open_requests:
            return False
        self.running += 1
        return True

    def seconds_until_retry(self) -> float:
        """How long until an open circuit lets a probe through (0 when it is not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self.opened_at + self.config.timeout - self.clock())

    def release(self) -> None:
        """An acquired slot ended with neither a success nor a failure (e.g. cancelled)."""
        self.running = max(0, self.running - 1)

    def record_success(self) -> None:
        """An acquired item succeeded: ends its slot; in half-open, counts toward closing."""
        self.release()
        self.consecutive_failures = 0
        if self.state == "half_open":
            self.probe_successes += 1
            if self.probe_successes >= self.config.success_threshold:
                self._move("closed", f"{self.probe_successes} item(s) succeeded while "
                           "half-open")

    def record_failure(self) -> None:
        """An acquired item failed: ends its slot; may open (or reopen) the circuit."""
        self.release()
        self.consecutive_failures += 1
        if self.state == "half_open":
            self.gave_up = (f"an item failed while half-open, after the {self.config.timeout:g}s "
                            "cool-down: the failures go on")
            self._move("open", self.gave_up)
        elif self.state == "closed" and (
            self.consecutive_failures >= self.config.failure_threshold
        ):
            self._move("open", f"{self.consecutive_failures} items failed in a row; "
                       f"holding new items for {self.config.timeout:g}s")

    def _move(self, new: CircuitState, reason: str) -> None:
        old, self.state = self.state, new
        self.probe_successes = 0
        if new == "open":
            self.opened_at = self.clock()
        if new == "closed":
            self.consecutive_failures = 0
        if self.on_change is not None:
            self.on_change(old, new, reason)
