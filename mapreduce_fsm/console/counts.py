"""The numbers a map progress display shows: done, failed, running, rate and ETA."""

from __future__ import annotations

from collections.abc import Callable

from mapreduce_fsm.state.records import FAILURE_STATUSES


class MapCounts:
    """The numbers both reporters show; every update is O(1).

    An item counts as running from its first attempt until its final result, waits
    between retries included, so retries never inflate the count.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total = 0
        self.done = 0
        self.failed = 0
        self.already_done = 0
        self.running_ids: set[str] = set()
        self.started_at = clock()

    def start(self, total: int, already_done: int, already_failed: int) -> None:
        self.total = total
        self.done = self.already_done = already_done
        self.failed = already_failed
        self.running_ids.clear()
        self.started_at = self.clock()

    def item_started(self, item_id: str) -> None:
        self.running_ids.add(item_id)

    def item_finished(self, item_id: str, status: str) -> None:
        self.running_ids.discard(item_id)
        self.done += 1
        if status in FAILURE_STATUSES:
            self.failed += 1

    @property
    def running(self) -> int:
        return len(self.running_ids)

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started_at)

    def rate(self) -> float:
        """Items finished per second in this run (earlier runs' items excluded)."""
        elapsed = self.elapsed()
        return (self.done - self.already_done) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate()
        if rate <= 0:
            return "?"
        return format_duration(max(0, self.total - self.done) / rate)

    def line(self) -> str:
        return (f"map: {self.done}/{self.total} done ({self.failed} failed, "
                f"{self.running} running), {self.rate():.1f} items/s, ETA {self.eta()}")

    def final_line(self) -> str:
        return (f"map: finished {self.done}/{self.total} ({self.failed} failed) "
                f"in {format_duration(self.elapsed())}, {self.rate():.1f} items/s")


def format_duration(seconds: float) -> str:
    """42 -> "42s", 195 -> "3m15s", 7325 -> "2h02m"."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
