"""What runs inside a Dask worker: a batch of work orders in, their outcomes out, as JSON.

A task runs its orders one after the other with the project's own step runner. It
writes nothing into the job directory: the outcomes go back to the runner, which is
the only writer. A task the runner no longer wants (Ctrl-C, the runner gone) stops
within `WANTED_POLL_SECS`: its steps' process groups are killed as they would be here.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from mapreduce_fsm.agents import AgentSpec, ItemOutcome, WorkOrder, run_work_order
from mapreduce_fsm.convert import converter

STARTED_TOPIC = "mapreduce-fsm.task-started"  # one event each time a worker starts a task
WANTED_POLL_SECS = 0.5
_GONE_STATES = frozenset({"cancelled", "released", "forgotten"})


def can_see(path: str) -> bool:
    """The probe run on every worker: is the job's working directory there?"""
    return os.path.isdir(path)


def batch_json(orders: list[WorkOrder]) -> str:
    """Orders of one map as a task's JSON: the spec they share once, then each item."""
    (spec,) = {id(order.spec): order.spec for order in orders}.values()
    return json.dumps({
        "spec": converter.unstructure(spec),
        "orders": [{"item": order.item, "item_id": order.item_id,
                    "item_index": order.item_index, "attempt": order.attempt}
                   for order in orders],
    })


def read_batch(text: str) -> list[WorkOrder]:
    data = json.loads(text)
    spec = converter.structure(data["spec"], AgentSpec)
    return [spec.order(**order) for order in data["orders"]]


def run_orders(orders_json: str) -> str:
    """The Dask task: run each order, return {"worker", "pid", "outcomes"} as JSON."""
    orders = read_batch(orders_json)
    where, still_wanted = _this_task()
    outcomes = asyncio.run(_run_while_wanted(orders, still_wanted))
    return json.dumps({
        "worker": where,
        "pid": os.getpid(),
        "outcomes": converter.unstructure(outcomes, list[ItemOutcome]),
    })


async def _run_while_wanted(
    orders: list[WorkOrder], still_wanted: Callable[[], bool]
) -> list[ItemOutcome]:
    async def run_all() -> list[ItemOutcome]:
        return [await run_work_order(order) for order in orders]

    work = asyncio.create_task(run_all())
    while True:
        done, _ = await asyncio.wait({work}, timeout=WANTED_POLL_SECS)
        if done:
            return work.result()
        if not still_wanted():
            work.cancel()  # kills the running step's process group
            await asyncio.gather(work, return_exceptions=True)
            raise asyncio.CancelledError("the runner no longer wants this task")


def _this_task() -> tuple[str, Callable[[], bool]]:
    """The worker's address, and a check that the scheduler still wants this task run.

    Outside a worker (a test calling `run_orders` directly) the task is always wanted.
    """
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker = get_worker()
        key = thread_state.key
    except (ImportError, ValueError, AttributeError):
        return f"pid {os.getpid()}", lambda: True
    worker.log_event(STARTED_TOPIC, {"key": str(key), "worker": worker.address})

    def still_wanted() -> bool:
        task: Any = worker.state.tasks.get(key)
        return task is not None and task.state not in _GONE_STATES

    return worker.address, still_wanted
