"""The backend interface: the small surface a distributed engine would implement."""

from __future__ import annotations

from typing import Protocol

from mapreduce_fsm.agents.agent import Agent, AgentOutcome
from mapreduce_fsm.workitems import WorkItem


class Backend(Protocol):
    """Runs single items; the scheduler decides which, when, and how many at once."""

    @property
    def capacity(self) -> int:
        """How many items may run at the same time."""
        ...

    async def run_item(self, agent: Agent, item: WorkItem, attempt: int) -> AgentOutcome: ...
