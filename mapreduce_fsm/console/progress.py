"""Map progress: a rich bar on a terminal, a line every few seconds without one, or nothing.

The map calls `item_started` and `item_finished` for every item, hundreds of times a
second on big jobs, so both only update counters. The bar is redrawn by rich's own
refresh timer; the plain reporter formats a line only when its interval has passed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from mapreduce_fsm.state.records import FAILURE_STATUSES

if TYPE_CHECKING:  # at run time these come from __getattr__ below, on first use
    from mapreduce_fsm.console.progress_bar import BAR_WIDTH as BAR_WIDTH
    from mapreduce_fsm.console.progress_bar import RichProgress as RichProgress


class ProgressReporter(Protocol):
    """What the map phase reports as items run."""

    def start(self, total: int, *, already_done: int = 0, already_failed: int = 0) -> None:
        """The map begins: `total` items, of which `already_done` finished in an earlier run
        (`already_failed` of those failed or timed out)."""
        ...

    def item_started(self, item_id: str) -> None:
        """An attempt at an item started (called again for each retry)."""
        ...

    def item_finished(self, item_id: str, status: str) -> None:
        """An item has its final result: success, failed, timeout or skipped."""
        ...

    def note(self, message: str) -> None:
        """Something worth a line of its own, e.g. "circuit breaker open: ..."."""
        ...

    def close(self) -> None:
        """The map ended (or stopped); show the final state and release the display."""
        ...


class NullProgress:
    """`-q`: reports nothing."""

    def start(self, total: int, *, already_done: int = 0, already_failed: int = 0) -> None:
        return None

    def item_started(self, item_id: str) -> None:
        return None

    def item_finished(self, item_id: str, status: str) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def close(self) -> None:
        return None


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


class LineProgress:
    """No terminal: one plain line at most every `interval` seconds, and a final line.

    `map: 1200/10000 done (3 failed, 8 running), 45.1 items/s, ETA 3m15s`
    """

    def __init__(self, stream: TextIO, *, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.counts = MapCounts(clock)
        self.next_line_at = 0.0
        self.active = False

    def start(self, total: int, *, already_done: int = 0, already_failed: int = 0) -> None:
        self.counts.start(total, already_done, already_failed)
        self.next_line_at = self.clock() + self.interval
        self.active = True

    def item_started(self, item_id: str) -> None:
        self.counts.item_started(item_id)

    def item_finished(self, item_id: str, status: str) -> None:
        self.counts.item_finished(item_id, status)
        now = self.clock()
        if now >= self.next_line_at:
            self.next_line_at = now + self.interval
            self._write(self.counts.line())

    def note(self, message: str) -> None:
        self._write(f"map: {message}")

    def close(self) -> None:
        if self.active:
            self.active = False
            self._write(self.counts.final_line())

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def choose_progress(*, quiet: bool, stream: TextIO | None = None) -> ProgressReporter:
    """Nothing with -q; a bar when `stream` (default stderr) is a terminal; else plain lines."""
    if quiet:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if not _isatty(stream):
        return LineProgress(stream)
    # The bar lives in its own module: rich.progress is slow to import and only a bar needs it.
    from mapreduce_fsm.console.progress_bar import RichProgress

    return RichProgress(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # a closed stream
        return False


def __getattr__(name: str) -> Any:
    """`RichProgress` and `BAR_WIDTH` moved to `progress_bar`; still importable from here."""
    if name in ("RichProgress", "BAR_WIDTH"):
        from mapreduce_fsm.console import progress_bar

        return getattr(progress_bar, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
