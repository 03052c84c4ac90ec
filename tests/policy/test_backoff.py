"""retry_delay: each kind's sequence, the max_delay cap, jitter bounds, huge retry numbers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.config.model import Backoff, BackoffKind, RetryConfig
from mapreduce_fsm.policy import retry_delay
from mapreduce_fsm.policy.backoff import LONGEST_DELAY


def config(kind: BackoffKind, *, max_delay: float | None = None, jitter: bool = False,
           initial: float = 1.0, increment: float = 1.0, multiplier: float = 2.0) -> RetryConfig:
    backoff = Backoff(kind=kind, initial=initial, increment=increment, multiplier=multiplier)
    return RetryConfig(backoff=backoff, max_delay=max_delay, jitter=jitter)


def delays(retry: RetryConfig, count: int) -> list[float]:
    return [retry_delay(retry, n) for n in range(1, count + 1)]


def test_fixed_waits_initial_every_time() -> None:
    assert delays(config("fixed", initial=2.5), 5) == [2.5] * 5


def test_linear_adds_the_increment_per_retry() -> None:
    assert delays(config("linear", initial=1, increment=3), 5) == [1, 4, 7, 10, 13]


def test_exponential_multiplies_per_retry() -> None:
    assert delays(config("exponential", initial=0.5, multiplier=3), 5) == [0.5, 1.5, 4.5, 13.5,
                                                                             40.5]


def test_fibonacci_follows_1_1_2_3_5() -> None:
    assert delays(config("fibonacci", initial=2), 8) == [2, 2, 4, 6, 10, 16, 26, 42]


def test_the_result_is_a_float_even_for_whole_settings() -> None:
    assert isinstance(retry_delay(config("fixed", initial=3), 1), float)


def test_retry_numbers_below_one_count_as_the_first_retry() -> None:
    retry = config("linear", initial=1, increment=5)
    assert retry_delay(retry, 0) == retry_delay(retry, -3) == 1.0


@pytest.mark.parametrize("kind", ["linear", "exponential", "fibonacci"])
def test_max_delay_caps_the_growing_kinds(kind: BackoffKind) -> None:
    retry = config(kind, initial=4, increment=4, multiplier=4, max_delay=10)
    assert delays(retry, 30)[0] == 4
    assert delays(retry, 30)[-5:] == [10] * 5


def test_max_delay_caps_even_a_fixed_delay() -> None:
    assert retry_delay(config("fixed", initial=40, max_delay=10), 1) == 10


def test_no_max_delay_still_stops_at_a_day() -> None:
    assert retry_delay(config("exponential", max_delay=None), 200) == LONGEST_DELAY


@pytest.mark.parametrize("kind", ["fixed", "linear", "exponential", "fibonacci"])
@pytest.mark.parametrize("retry_number", [1_000, 10**6, 10**30, 10**400])
def test_huge_retry_numbers_neither_overflow_nor_take_long(kind: BackoffKind,
                                                           retry_number: int) -> None:
    delay = retry_delay(config(kind, initial=1, max_delay=60), retry_number)
    assert delay == (1.0 if kind == "fixed" else 60.0)


def test_a_tiny_initial_fibonacci_grows_until_the_cap_not_a_fixed_term_count() -> None:
    retry = config("fibonacci", initial=1e-9, max_delay=None)
    assert retry_delay(retry, 60) == pytest.approx(1e-9 * 1548008755920)
    assert retry_delay(retry, 10**9) == LONGEST_DELAY


def test_a_shrinking_exponential_tends_to_zero_without_error() -> None:
    retry = config("exponential", initial=8, multiplier=0.5)
    assert delays(retry, 4) == [8, 4, 2, 1]
    assert retry_delay(retry, 10**12) == 0.0


def test_a_zero_initial_never_waits() -> None:
    for kind in ("exponential", "fibonacci"):
        assert retry_delay(config(kind, initial=0), 10**9) == 0.0


@given(
    kind=st.sampled_from(["fixed", "linear", "exponential", "fibonacci"]),
    initial=st.floats(0, 1000),
    step=st.floats(0.01, 10),
    max_delay=st.none() | st.floats(0, 10_000),
    retry_number=st.integers(1, 10**6) | st.integers(1, 10**400),
    seed=st.integers(0, 2**32),
)
def test_jitter_stays_within_half_to_the_full_delay(
    kind: BackoffKind, initial: float, step: float, max_delay: float | None,
    retry_number: int, seed: int,
) -> None:
    plain = config(kind, initial=initial, increment=step, multiplier=1 + step,
                   max_delay=max_delay)
    jittered = config(kind, initial=initial, increment=step, multiplier=1 + step,
                      max_delay=max_delay, jitter=True)
    delay = retry_delay(plain, retry_number)
    drawn = retry_delay(jittered, retry_number, rng=random.Random(seed))
    assert math.isfinite(delay) and delay >= 0
    assert delay / 2 <= drawn <= delay
    if max_delay is not None:
        assert delay <= max_delay


def test_jitter_actually_spreads_the_waits() -> None:
    retry = config("fixed", initial=10, jitter=True)
    rng = random.Random(7)
    draws = {retry_delay(retry, 1, rng=rng) for _ in range(50)}
    assert len(draws) > 40
    assert min(draws) < 6 and max(draws) > 9


@given(
    kind=st.sampled_from(["linear", "exponential", "fibonacci"]),
    initial=st.floats(0.001, 100),
    step=st.floats(0.01, 5),
    retry_number=st.integers(1, 500),
)
def test_growing_kinds_never_shrink_from_one_retry_to_the_next(
    kind: BackoffKind, initial: float, step: float, retry_number: int
) -> None:
    retry = config(kind, initial=initial, increment=step, multiplier=1 + step, max_delay=None)
    assert retry_delay(retry, retry_number + 1) >= retry_delay(retry, retry_number)
