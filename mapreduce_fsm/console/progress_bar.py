"""The map's live progress bar on a terminal, kept apart so only a bar imports rich.progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from mapreduce_fsm.console.counts import MapCounts

BAR_WIDTH = 15  # leaves room on an 80-column terminal for "12000/12000 3 failed, ... ETA 3m15s"


class _CountsColumn(ProgressColumn):
    """Failed, running, rate and ETA, read straight from the counters at render time."""

    def __init__(self, counts: MapCounts) -> None:
        super().__init__()
        self.counts = counts

    def render(self, task: Task) -> Text:
        counts = self.counts
        return Text(f"{counts.activity()}, {counts.rate():.1f} items/s, ETA {counts.eta()}")


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

    def start(self, total: int, *, already_done: int = 0, already_failed: int = 0) -> None:
        self.counts.start(total, already_done, already_failed)
        if self.task is None:
            self.task = self.progress.add_task("map", total=total, completed=already_done)
            self.progress.start()
        else:
            self.progress.reset(self.task, total=total, completed=already_done)

    def item_started(self, item_id: str) -> None:
        self.counts.item_started(item_id)

    def item_waiting(self, item_id: str, delay_secs: float) -> None:
        self.counts.item_waiting(item_id, delay_secs)

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
