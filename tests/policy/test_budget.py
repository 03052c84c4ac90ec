"""FailureBudget: when each error_policy rule stops the map, and rebuilding the counts on resume."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.config.model import ErrorPolicy
from mapreduce_fsm.policy import FailureBudget, StopDecision
from mapreduce_fsm.state.records import ItemStatus

STATUSES: list[ItemStatus] = ["success", "failed", "timeout", "skipped"]


def feed(budget: FailureBudget, statuses: Sequence[str]) -> list[StopDecision | None]:
    return [budget.record(f"item-{index}", status) for index, status in enumerate(statuses)]


def test_a_lenient_policy_never_stops() -> None:
    budget = FailureBudget(ErrorPolicy())
    assert feed(budget, ["failed"] * 50 + ["success"] * 5) == [None] * 55
    assert (budget.failures, budget.successes) == (50, 5)


def test_max_failures_stops_at_the_nth_failure_counting_timeouts() -> None:
    budget = FailureBudget(ErrorPolicy(max_failures=3))
    decisions = feed(budget, ["failed", "success", "timeout", "success", "failed"])
    assert decisions[:4] == [None] * 4
    assert decisions[4] == StopDecision(reason="max_failures reached: 3 items failed")


def test_the_first_decision_is_returned_again_on_every_later_record() -> None:
    budget = FailureBudget(ErrorPolicy(max_failures=1))
    first = budget.record("a", "failed")
    assert first is not None
    assert budget.record("b", "success") is first
    assert budget.record("c", "failed") is first
    assert budget.failures == 2  # counting goes on after the stop


def test_failure_threshold_waits_for_ten_items() -> None:
    budget = FailureBudget(ErrorPolicy(failure_threshold=0.2))
    decisions = feed(budget, ["failed"] * 9)
    assert decisions == [None] * 9
    tenth = budget.record("item-9", "failed")
    assert tenth == StopDecision(
        reason="failure rate 100% exceeds failure_threshold 20% after 10 items"
    )


def test_failure_threshold_stops_only_when_the_rate_exceeds_it() -> None:
    budget = FailureBudget(ErrorPolicy(failure_threshold=0.25))
    decisions = feed(budget, ["success"] * 30 + ["failed"] * 10)  # 10/40 = exactly 25%
    assert decisions == [None] * 40
    assert budget.record("one-more", "failed") == StopDecision(
        reason="failure rate 26.83% exceeds failure_threshold 25% after 41 items"
    )


def test_skipped_items_count_neither_toward_the_rate_nor_the_ten_item_minimum() -> None:
    budget = FailureBudget(ErrorPolicy(failure_threshold=0.5, max_failures=100))
    decisions = feed(budget, ["skipped"] * 20 + ["failed"] * 9)
    assert decisions == [None] * 29  # only 9 items succeeded or failed so far
    assert (budget.failures, budget.successes) == (9, 0)
    assert budget.record("x", "failed") is not None


def test_skipped_items_do_not_dilute_the_failure_rate() -> None:
    budget = FailureBudget(ErrorPolicy(failure_threshold=0.4))
    feed(budget, ["success"] * 5 + ["skipped"] * 100)
    decisions = feed(budget, ["failed"] * 5)  # 5 of 10 = 50% > 40%
    assert decisions[-1] is not None
    assert "50% exceeds failure_threshold 40% after 10 items" in decisions[-1].reason


def test_continue_on_failure_false_stops_at_the_first_failure() -> None:
    budget = FailureBudget(ErrorPolicy(continue_on_failure=False))
    assert budget.record("item-1", "success") is None
    assert budget.record("item-2", "skipped") is None
    assert budget.record("item-3", "timeout") == StopDecision(
        reason="continue_on_failure is false: item item-3 failed"
    )


def test_on_item_failure_stop_names_the_item() -> None:
    budget = FailureBudget(ErrorPolicy(on_item_failure="stop"))
    assert budget.record("item-1", "success") is None
    assert budget.record("item-3", "failed") == StopDecision(
        reason="on_item_failure is stop: item item-3 failed"
    )


def test_from_statuses_restores_the_counts_without_deciding() -> None:
    policy = ErrorPolicy(max_failures=2)
    budget = FailureBudget.from_statuses(policy, ["failed", "success", "skipped"])
    assert (budget.failures, budget.successes, budget.decision) == (1, 1, None)
    assert budget.record("item-3", "failed") == StopDecision(
        reason="max_failures reached: 2 items failed"
    )


policies = st.builds(
    ErrorPolicy,
    on_item_failure=st.sampled_from(["dlq", "retry", "skip", "stop"]),
    continue_on_failure=st.booleans(),
    max_failures=st.none() | st.integers(1, 30),
    failure_threshold=st.none() | st.floats(0, 1, exclude_min=True),  # the model's rule
)


@given(
    policy=policies,
    before=st.lists(st.sampled_from(STATUSES), max_size=60),
    after=st.lists(st.sampled_from(STATUSES), max_size=20),
)
def test_a_rebuilt_budget_counts_and_decides_like_an_incremental_one(
    policy: ErrorPolicy, before: list[ItemStatus], after: list[ItemStatus]
) -> None:
    incremental = FailureBudget(policy)
    feed(incremental, before)
    rebuilt = FailureBudget.from_statuses(policy, before)
    assert (rebuilt.failures, rebuilt.successes) == (incremental.failures, incremental.successes)
    assert rebuilt.failures == sum(status in ("failed", "timeout") for status in before)
    assert rebuilt.successes == before.count("success")
    # From here on both see the same items; where the incremental one has not stopped yet,
    # the rebuilt one must decide exactly as it does.
    if incremental.decision is None:
        assert feed(rebuilt, after) == feed(incremental, after)
