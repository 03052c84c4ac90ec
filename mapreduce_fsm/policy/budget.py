"""When the map must stop: on_item_failure stop, continue_on_failure, max_failures, threshold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

from mapreduce_fsm.config.model import ErrorPolicy
from mapreduce_fsm.state.records import FAILURE_STATUSES

# failure_threshold is judged only once this many items have succeeded or failed, so one
# early failure does not read as "100% failed".
THRESHOLD_MIN_ITEMS = 10



@attrs.frozen(kw_only=True)
class StopDecision:
    """Why the map stops starting items; `reason` is shown to the user and logged as an event."""

    reason: str


@attrs.define
class FailureBudget:
    """Counts items' final results and says when the map must stop.

    `record` is called once per item with its final status. `failed` and `timeout` are
    failures, `success` a success, and `skipped` neither: a skipped item moves no counter,
    so it neither dilutes nor raises the failure rate.

    The map stops when
    - an item fails and `on_item_failure` is `stop`, or `continue_on_failure` is false;
    - `max_failures` items have failed;
    - more than `failure_threshold` (a fraction) of the items that succeeded or failed have
      failed, judged once at least `THRESHOLD_MIN_ITEMS` (10) of them have ended.

    The first decision sticks: every later `record` returns that same decision, so a
    caller that only looks at the latest return value never misses the stop.

    >>> budget = FailureBudget(ErrorPolicy(max_failures=2))
    >>> budget.record("a", "failed") is None
    True
    >>> budget.record("b", "timeout").reason
    'max_failures reached: 2 items failed'
    """

    policy: ErrorPolicy
    failures: int = attrs.field(default=0, kw_only=True)
    successes: int = attrs.field(default=0, kw_only=True)
    decision: StopDecision | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def from_statuses(cls, policy: ErrorPolicy, statuses: Iterable[str]) -> FailureBudget:
        """The counts of a resumed map, rebuilt from the final statuses already journaled.

        No decision is taken here: the counts only weigh on the items still to run.
        """
        return cls.from_counts(policy, Counter(statuses))

    @classmethod
    def from_counts(cls, policy: ErrorPolicy, counts: Mapping[str, int]) -> FailureBudget:
        """As `from_statuses`, from the number of items of each final status."""
        return cls(policy, failures=sum(counts.get(status, 0) for status in FAILURE_STATUSES),
                   successes=counts.get("success", 0))

    def record(self, item_id: str, final_status: str) -> StopDecision | None:
        """Count one item's final result; the stop decision, if the map must stop now or before."""
        self._count(final_status)
        if self.decision is None:
            self.decision = self._judge(item_id, failed=final_status in FAILURE_STATUSES)
        return self.decision

    def _count(self, status: str) -> None:
        if status in FAILURE_STATUSES:
            self.failures += 1
        elif status == "success":
            self.successes += 1

    def _judge(self, item_id: str, *, failed: bool) -> StopDecision | None:
        policy = self.policy
        if failed and policy.on_item_failure == "stop":
            return StopDecision(reason=f"on_item_failure is stop: item {item_id} failed")
        if failed and not policy.continue_on_failure:
            return StopDecision(reason=f"continue_on_failure is false: item {item_id} failed")
        if policy.max_failures is not None and self.failures >= policy.max_failures:
            return StopDecision(reason=f"max_failures reached: {self.failures} items failed")
        ended = self.failures + self.successes
        threshold = policy.failure_threshold
        if threshold is not None and ended >= THRESHOLD_MIN_ITEMS:
            rate = self.failures / ended
            if rate > threshold:
                return StopDecision(
                    reason=f"failure rate {_percent(rate)} exceeds failure_threshold "
                    f"{_percent(threshold)} after {ended} items"
                )
        return None


def _percent(fraction: float) -> str:
    """0.25 -> "25%", 0.2004 -> "20.04%": enough digits that a rate and its limit differ."""
    text = f"{fraction * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"
