"""How long to wait before retrying a failed item: fixed, linear, exponential, fibonacci."""

from __future__ import annotations

import math
import random

from mapreduce_fsm.config.model import Backoff, RetryConfig

# No wait is longer than a day, whatever the numbers say; it also keeps the arithmetic finite.
LONGEST_DELAY = 24 * 3600.0
# Retry numbers beyond this are treated as this (still a float, far beyond any real job).
_LARGEST_RETRY_NUMBER = 10**300


def retry_delay(
    config: RetryConfig, retry_number: int, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt `retry_number + 1` (1 = the wait after the first failure).

    With n = retry_number (values below 1 are treated as 1):

    - fixed: `initial`
    - linear: `initial + increment * (n - 1)`
    - exponential: `initial * multiplier ** (n - 1)`
    - fibonacci: `initial * fib(n)`, fib = 1, 1, 2, 3, 5, 8, ...

    The result is capped at `max_delay` (when set) and never exceeds a day. The cap is
    applied before the growth is computed, so a huge `n` costs nothing and cannot overflow.

    With `jitter`, the wait is "equal jitter": drawn uniformly from [delay/2, delay]. Retries
    of many items that failed together spread out, yet none comes back sooner than half the
    planned delay. Pass `rng` for reproducible draws.

    >>> from mapreduce_fsm.config.model import Backoff, RetryConfig
    >>> config = RetryConfig(backoff=Backoff(kind="exponential", initial=1, multiplier=2))
    >>> [retry_delay(config, n) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 8.0]
    """
    n = min(max(1, retry_number), _LARGEST_RETRY_NUMBER)
    cap = LONGEST_DELAY if config.max_delay is None else min(config.max_delay, LONGEST_DELAY)
    cap = max(cap, 0.0)
    delay = float(min(_planned_delay(config.backoff, n, cap), cap))
    if config.jitter:
        delay = (rng or random).uniform(delay / 2, delay)
    return delay


def _planned_delay(backoff: Backoff, n: int, cap: float) -> float:
    """The un-jittered delay, or any value >= `cap` once the curve has passed it."""
    initial = max(backoff.initial, 0.0)
    if backoff.kind == "fixed":
        return initial
    if backoff.kind == "linear":
        increment = max(backoff.increment, 0.0)
        if increment == 0.0:
            return initial
        if n - 1 >= (cap - initial) / increment:
            return cap
        return initial + increment * (n - 1)
    if initial == 0.0:
        return 0.0
    if backoff.kind == "exponential":
        return _exponential(initial, backoff.multiplier, n, cap)
    return _fibonacci(initial, n, cap)


def _exponential(initial: float, multiplier: float, n: int, cap: float) -> float:
    if multiplier <= 1.0:  # a flat or shrinking curve cannot overflow; tiny values go to 0
        return initial * multiplier ** min(n - 1, 100_000)
    if initial >= cap:
        return cap
    log_growth = (n - 1) * math.log(multiplier)
    if log_growth >= math.log(cap) - math.log(initial):
        return cap
    if log_growth < 700:  # the power itself is a finite float: compute it exactly
        return initial * multiplier ** (n - 1)
    return math.exp(math.log(initial) + log_growth)  # a tiny initial times a huge power


def _fibonacci(initial: float, n: int, cap: float) -> float:
    previous, current = 0.0, 1.0  # fib(0), fib(1); floats, so a huge term is inf, not an error
    for _ in range(n - 1):
        if initial * current >= cap:
            return cap
        previous, current = current, previous + current
    return initial * current
