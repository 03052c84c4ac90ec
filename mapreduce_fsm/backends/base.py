"""The backend interface: the small surface a distributed engine would implement."""

from __future__ import annotations

from typing import Protocol

from mapreduce_fsm.agents import ItemOutcome, WorkOrder


class Backend(Protocol):
    """Runs work orders; the scheduler decides which, when, and how many at once.

    Orders and outcomes are plain data (`convert.converter` makes them JSON), so a
    backend may run them in another process or on another machine.
    """

    @property
    def capacity(self) -> int:
        """How many orders may run at the same time."""
        ...

    async def run(self, order: WorkOrder) -> ItemOutcome: ...
