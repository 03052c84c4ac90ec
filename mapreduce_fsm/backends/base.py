"""The backend interface: the small surface a distributed engine would implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mapreduce_fsm.agents import ItemOutcome, WorkOrder


class Backend(Protocol):
    """Runs work orders; the scheduler decides which, when, and how many at once.

    Orders and outcomes are plain data (`convert.converter` makes them JSON), so a
    backend may run them in another process or on another machine.
    """

    @property
    def name(self) -> str:
        """Where orders run, as the events record it: "local", "dask tcp://host:8786"."""
        ...

    @property
    def capacity(self) -> int:
        """How many orders may run at the same time."""
        ...

    async def run(self, order: WorkOrder) -> ItemOutcome: ...


# What the map phase is given: its capacity (max_parallel) in, the backend out.
BackendFactory = Callable[[int], Backend]
