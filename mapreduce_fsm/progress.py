"""Map progress: a rich bar on a terminal, a line every few seconds without one, or nothing.

The map calls `item_started` and `item_finished` for every item, hundreds of times a
second on big jobs, so both only update counters. The bar is redrawn by rich's own
refresh timer; the plain reporter formats a line only when its interval has passed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

FAILURE_STATUSES = frozenset({"failed", "timeout"})
BAR_WIDTH = 15  # leaves room on an 80-column terminal for "12000/12000 3 failed, ... ETA 3m15s"


class ProgressReporter(Protocol):
    """What the map phase reports as items run."""

    def start(self, total: int, *, already_done: int = 0) -> None:
        """The map begins: `total` items, of which `already_done` finished in an earlier run."""
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

    def start(self, total: int, *, already_done: int = 0) -> None:
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

    def start(self, total: int, already_done: int) -> None:
        self.total = total
        self.done = self.already_done = already_done
        self.failed = 0
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

    def start(self, total: int, *, already_done: int = 0) -> None:
        self.counts.start(total, already_done)
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


class _CountsColumn(ProgressColumn):
    """Failed, running, rate and ETA, read straight from the counters at render time."""

    def __init__(self, counts: MapCounts) -> None:
        super().__init__()
        self.counts = counts

    def render(self, task: Task) -> Text:
        counts = self.counts
        return Text(f"{counts.failed} failed, {counts.running} running, "
                    f"{counts.rate():.1f} items/s, ETA {counts.eta()}")


class RichProgress:
    """A terminal: a live bar with done/total, failed, running, rate and ETA.

    Calls only move counters; rich redraws on its own timer (4 times a second).
    """

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts = MapCounts(clock)
        self.progress = Progress(
            TextColumn("map"), BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.completed}/{task.total}"), _CountsColumn(self.counts),
            console=Console(file=stream), refresh_per_second=4,
            redirect_stdout=False,  # stdout carries results (--json); never mix the bar in
        )
        self.task: TaskID | None = None

    def start(self, total: int, *, already_done: int = 0) -> None:
        self.counts.start(total, already_done)
        if self.task is None:
            self.task = self.progress.add_task("map", total=total, completed=already_done)
            self.progress.start()
        else:
            self.progress.reset(self.task, total=total, completed=already_done)

    def item_started(self, item_id: str) -> None:
        self.counts.item_started(item_id)

    def item_finished(self, item_id: str, status: str) -> None:
        self.counts.item_finished(item_id, status)
        if self.task is not None:
            self.progress.advance(self.task)

    def note(self, message: str) -> None:
        self.progress.console.print(Text(f"map: {message}"))

    def close(self) -> None:
        if self.task is not None:
            self.progress.refresh()
            self.progress.stop()
            self.progress.remove_task(self.task)
            self.task = None


def choose_progress(*, quiet: bool, stream: TextIO | None = None) -> ProgressReporter:
    """Nothing with -q; a bar when `stream` (default stderr) is a terminal; else plain lines."""
    if quiet:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    return RichProgress(stream) if _isatty(stream) else LineProgress(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # a closed stream
        return False
