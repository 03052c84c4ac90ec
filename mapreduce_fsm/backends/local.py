"""The default backend: items run as asyncio tasks in this process, steps as local subprocesses."""

from __future__ import annotations

import attrs

from mapreduce_fsm.agents.agent import Agent, AgentOutcome
from mapreduce_fsm.workitems import WorkItem


@attrs.frozen(kw_only=True)
class LocalBackend:
    """Runs `capacity` items at once on this machine."""

    capacity: int = attrs.field(validator=attrs.validators.ge(1))

    async def run_item(self, agent: Agent, item: WorkItem, attempt: int) -> AgentOutcome:
        return await agent.run(item, attempt)
