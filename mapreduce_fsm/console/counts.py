"""The numbers a map progress display shows: done, failed, running, rate and ETA."""

from __future__ import annotations

from collections.abc import Callable

from mapreduce_fsm.state.records import FAILURE_STATUSES


class MapCounts:
    """The numbers both reporters show; every update is O(1) (the ETA looks at the waits).

    An item is running while an attempt at it runs, and waiting between a failed attempt
    and its retry; it is counted once, however many attempts it takes.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total = 0
        self.done = 0
        self.failed = 0
        self.already_done = 0
        self.running_ids: set[str] = set()
        self.waiting_until: dict[str, float] = {}  # item id -> when its retry may start
        self.started_at = clock()

    def start(self, total: int, already_done: int, already_failed: int) -> None:
        self.total = total
        self.done = self.already_done = already_done
        self.failed = already_failed
        self.running_ids.clear()
        self.waiting_until.clear()
        self.started_at = self.clock()

    def item_started(self, item_id: str) -> None:
        self.waiting_until.pop(item_id, None)
        self.running_ids.add(item_id)

    def item_waiting(self, item_id: str, delay_secs: float) -> None:
        self.running_ids.discard(item_id)
        self.waiting_until[item_id] = self.clock() + delay_secs

    def item_finished(self, item_id: str, status: str) -> None:
        self.running_ids.discard(item_id)
        self.waiting_until.pop(item_id, None)
        self.done += 1
        if status in FAILURE_STATUSES:
            self.failed += 1

    @property
    def running(self) -> int:
        return len(self.running_ids)

    @property
    def waiting(self) -> int:
        return len(self.waiting_until)

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started_at)

    def rate(self) -> float:
        """Items finished per second in this run (earlier runs' items excluded)."""
        elapsed = self.elapsed()
        return (self.done - self.already_done) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        """Time left at the current rate, and never less than the longest retry wait."""
        rate = self.rate()
        if rate <= 0:
            return "?"
        remaining = max(0, self.total - self.done) / rate
        if self.waiting_until:
            remaining = max(remaining, max(self.waiting_until.values()) - self.clock())
        return format_duration(remaining)

    def activity(self) -> str:
        """"3 failed, 8 running" and, when items wait for a retry, ", 2 waiting"."""
        text = f"{self.failed} failed, {self.running} running"
        return text + (f", {self.waiting} waiting" if self.waiting_until else "")

    def line(self) -> str:
        return (f"map: {self.done}/{self.total} done ({self.activity()}), "
                f"{self.rate():.1f} items/s, ETA {self.eta()}")

    def final_line(self) -> str:
        """How the map ended: "finished 3/3", or "stopped at 1/3" when items were left
        (Ctrl-C, `stop`, or the error policy stopped it)."""
        ended = "finished" if self.done >= self.total else "stopped at"
        return (f"map: {ended} {self.done}/{self.total} ({self.failed} failed) "
                f"in {format_duration(self.elapsed())}, {self.rate():.1f} items/s")


def format_duration(seconds: float) -> str:
    """42 -> "42s", 195 -> "3m15s", 7325 -> "2h02m"."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
