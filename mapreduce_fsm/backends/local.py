"""The default backend: orders run as asyncio tasks in this process, steps as local subprocesses."""

from __future__ import annotations

import attrs

from mapreduce_fsm.agents import ItemOutcome, WorkOrder, run_work_order


@attrs.frozen(kw_only=True)
class LocalBackend:
    """Runs `capacity` orders at once on this machine."""

    capacity: int = attrs.field(validator=attrs.validators.ge(1))
    name: str = "local"

    async def run(self, order: WorkOrder) -> ItemOutcome:
        return await run_work_order(order)
