"""Map progress: a rich bar on a terminal, a line every few seconds without one, or nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class ProgressReporter(Protocol):
    def start(self, total: int, *, already_done: int = 0) -> None: ...

    def item_started(self, item_id: str) -> None: ...

    def item_finished(self, item_id: str, status: str) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    """`-q`: nothing."""

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


class _Counts:
    """Counters shared by the reporters; O(1) per call."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total = self.done = self.failed = self.running = self.already = 0
        self.started_at = clock()

    def start(self, total: int, already_done: int) -> None:
        self.total, self.done, self.already = total, already_done, already_done
        self.failed = self.running = 0
        self.started_at = self.clock()

    def finished(self, status: str) -> None:
        self.done += 1
        self.running = max(0, self.running - 1)
        if status in ("failed", "timeout"):
            self.failed += 1

    def rate(self) -> float:
        elapsed = self.clock() - self.started_at
        return (self.done - self.already) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate()
        if rate <= 0:
            return "?"
        seconds = int((self.total - self.done) / rate)
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

    def line(self) -> str:
        return (f"map: {self.done}/{self.total} done ({self.failed} failed, "
                f"{self.running} running), {self.rate():.1f} items/s, ETA {self.eta()}")


class LineProgress:
    """No terminal: one plain line at most every `interval` seconds, and a final line."""

    def __init__(self, stream: TextIO, *, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.interval, self.clock = stream, interval, clock
        self.counts = _Counts(clock)
        self.last_print = clock()
        self.active = False

    def start(self, total: int, *, already_done: int = 0) -> None:
        self.counts.start(total, already_done)
        self.last_print, self.active = self.clock(), True

    def item_started(self, item_id: str) -> None:
        self.counts.running += 1

    def item_finished(self, item_id: str, status: str) -> None:
        self.counts.finished(status)
        now = self.clock()
        if now - self.last_print >= self.interval:
            self.last_print = now
            self._print(self.counts.line())

    def note(self, message: str) -> None:
        self._print(f"map: {message}")

    def close(self) -> None:
        if self.active:
            self.active = False
            c = self.counts
            self._print(f"map: finished {c.done}/{c.total} ({c.failed} failed), "
                        f"{c.rate():.1f} items/s")

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class RichProgress:
    """A terminal: a live bar with done/total, failed, running, rate and ETA."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream)
        self.counts = _Counts(time.monotonic)
        self.progress = Progress(
            TextColumn("map"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[failed]} failed, {task.fields[running]} running"),
            TextColumn("{task.fields[rate]} items/s"), TimeRemainingColumn(),
            console=self.console, refresh_per_second=4,
        )
        self.task: TaskID | None = None

    def start(self, total: int, *, already_done: int = 0) -> None:
        self.counts.start(total, already_done)
        self.task = self.progress.add_task("map", total=total, completed=already_done,
                                           failed=0, running=0, rate="0.0")
        self.progress.start()

    def _update(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.counts.done,
                                 failed=self.counts.failed, running=self.counts.running,
                                 rate=f"{self.counts.rate():.1f}")

    def item_started(self, item_id: str) -> None:
        self.counts.running += 1
        self._update()

    def item_finished(self, item_id: str, status: str) -> None:
        self.counts.finished(status)
        self._update()

    def note(self, message: str) -> None:
        self.progress.console.print(f"map: {message}", markup=False)

    def close(self) -> None:
        if self.task is not None:
            self._update()
            self.progress.stop()
            self.task = None


def choose_progress(*, quiet: bool, stream: TextIO | None = None) -> ProgressReporter:
    """Nothing with -q; a bar on a terminal; plain lines otherwise."""
    stream = stream or sys.stderr
    if quiet:
        return NullProgress()
    return RichProgress(stream) if stream.isatty() else LineProgress(stream)
