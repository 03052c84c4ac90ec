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

from mapreduce_fsm.console.counts import MapCounts


class ProgressReporter(Protocol):
    """What the map phase reports as items run."""

    def start(self, total: int, *, already_done: int = 0, already_failed: int = 0) -> None:
        """The map begins: `total` items, of which `already_done` finished in an earlier run
        (`already_failed` of those failed or timed out)."""
        ...

    def item_started(self, item_id: str) -> None:
        """An attempt at an item started (called again for each retry)."""
        ...

    def item_waiting(self, item_id: str, delay_secs: float) -> None:
        """An attempt at an item failed; it waits `delay_secs` for its retry."""
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

    def item_waiting(self, item_id: str, delay_secs: float) -> None:
        return None

    def item_finished(self, item_id: str, status: str) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def close(self) -> None:
        return None


class LineProgress:
    """No terminal: one plain line at most every `interval` seconds, and a final line.

    `map: 1200/10000 done (3 failed, 8 running, 2 waiting), 45.1 items/s, ETA 3m15s`
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

    def item_waiting(self, item_id: str, delay_secs: float) -> None:
        self.counts.item_waiting(item_id, delay_secs)

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

