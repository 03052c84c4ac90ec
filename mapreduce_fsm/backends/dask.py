"""The Dask backend: work orders run on the workers of a `dask.distributed` cluster.

Orders travel as JSON to `dask_tasks.run_orders` and outcomes come back as JSON; the
runner alone writes the job directory. Short items travel several to a task
(`batch_size`); each still gets its own outcome. A worker that dies mid-task makes the
scheduler run the task again on another worker; the outcome then says how many
worker losses it took (`ItemOutcome.worker_losses`), and no attempt is counted for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError

from mapreduce_fsm.agents import ItemOutcome, WorkOrder
from mapreduce_fsm.backends.base import BackendFactory
from mapreduce_fsm.backends.dask_tasks import STARTED_TOPIC, batch_json, can_see, run_orders
from mapreduce_fsm.convert import converter
from mapreduce_fsm.errors import EnvironmentFailure, MapReduceError, UsageError

CONNECT_TIMEOUT_SECS = 5.0
WORKERS_TIMEOUT_SECS = 30.0  # a scheduler with no worker: how long to wait for one
CLOSE_TIMEOUT_SECS = 3.0
WATCH_SECS = 0.25  # how often the connection to the scheduler is checked
MAX_BATCH = 50
SHORT_ITEM_SECS = 0.1  # items shorter than this on average are batched
LINGER_SECS = 0.002  # orders arriving within this time may share a task
LOCAL_THREADS_PER_WORKER = 4  # items mostly wait on their subprocesses
RESUBMITS_AFTER_KILLED_WORKER = 1

T = TypeVar("T")


def auto_batch_size(capacity: int, threads: int) -> int:
    """Orders per task for short items: each worker thread gets about two tasks of the
    `capacity` orders in flight, so the cluster stays busy and can still balance the
    load; at most `MAX_BATCH`."""
    return max(1, min(MAX_BATCH, capacity // (2 * max(1, threads))))


@attrs.define
class _Batch:
    orders: list[WorkOrder]
    waiters: list[asyncio.Future[ItemOutcome]]
    key: str = attrs.field(factory=lambda: f"mapreduce-fsm-{uuid.uuid4().hex}")


@attrs.define
class DaskBackend:
    """Runs up to `capacity` orders at once on a Dask cluster through an asynchronous client.

    `batch_size=None` chooses it: orders go one to a task until the items seen take less
    than `SHORT_ITEM_SECS` on average, then `auto_batch_size`. `batch_size=1` never batches.
    """

    client: Client
    capacity: int = attrs.field(validator=attrs.validators.ge(1))
    batch_size: int | None = None
    # Called when the scheduler is lost; the runs waiting then stay pending for it to stop
    # the job. None: they fail with EnvironmentFailure instead.
    on_lost: Callable[[], None] | None = None
    _pending: list[tuple[WorkOrder, asyncio.Future[ItemOutcome]]] = attrs.field(factory=list)
    _flush: asyncio.TimerHandle | None = None
    _batches: set[asyncio.Task[None]] = attrs.field(factory=set)  # submitted, not yet back
    _started_on: dict[str, list[str]] = attrs.field(factory=lambda: defaultdict(list))
    _seconds_run: float = 0.0  # by the items whose outcome came back
    _items_run: int = 0

    def __attrs_post_init__(self) -> None:
        self.client.subscribe_topic(STARTED_TOPIC, self._task_started)

    @property
    def name(self) -> str:
        return f"dask {self.client.scheduler.address}"

    def current_batch_size(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if self._items_run == 0 or self._seconds_run / self._items_run >= SHORT_ITEM_SECS:
            return 1
        threads = int(self.client.scheduler_info().get("total_threads") or 1)
        return auto_batch_size(self.capacity, threads)

    async def run(self, order: WorkOrder) -> ItemOutcome:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[ItemOutcome] = loop.create_future()
        self._pending.append((order, waiter))
        if len(self._pending) >= self.current_batch_size():
            self._submit_pending()
        elif self._flush is None:
            self._flush = loop.call_later(LINGER_SECS, self._submit_pending)
        outcome = await waiter
        self._seconds_run += outcome.result.duration_secs
        self._items_run += 1
        return outcome

    def _submit_pending(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        by_spec: dict[int, _Batch] = {}  # a task's orders share their spec
        for order, waiter in self._pending:
            batch = by_spec.setdefault(id(order.spec), _Batch(orders=[], waiters=[]))
            batch.orders.append(order)
            batch.waiters.append(waiter)
        self._pending = []
        for batch in by_spec.values():
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: _Batch) -> None:
        """Submit the batch and hand each waiter its outcome; cancel the task when every
        waiter was cancelled (Ctrl-C). A task that killed too many workers (KilledWorker)
        is submitted once more under a new key."""
        orders_json = batch_json(batch.orders)
        losses, submissions = 0, 0
        while True:
            submissions += 1
            future = self.client.submit(run_orders, orders_json, key=batch.key, pure=False)
            try:
                reply = await _first_of(future, batch.waiters)
            except Exception as error:
                killed = type(error).__name__ == "KilledWorker"
                if killed and submissions <= RESUBMITS_AFTER_KILLED_WORKER:
                    losses += len(self._started_on.pop(batch.key, ()))
                    batch.key = f"mapreduce-fsm-{uuid.uuid4().hex}"
                    continue
                if self._lost(error):
                    assert self.on_lost is not None
                    self.on_lost()  # the job stops as Ctrl-C would, cancelling the waiters
                else:
                    _fail(batch, error)
                return
            break
        if reply is None:  # every waiter was cancelled
            await _quietly(self.client.cancel([future]))
            return
        losses += max(0, len(self._started_on.pop(batch.key, ())) - 1)
        data = json.loads(reply)
        outcomes = converter.structure(data["outcomes"], list[ItemOutcome])
        for waiter, outcome in zip(batch.waiters, outcomes, strict=True):
            if not waiter.done():
                waiter.set_result(attrs.evolve(outcome, worker=data["worker"],
                                               worker_losses=losses))

    def _lost(self, error: Exception) -> bool:
        """Did the connection to the scheduler go, with someone to tell?"""
        gone = isinstance(error, CommClosedError | FutureCancelledError) or \
            self.client.status != "running"
        return gone and self.on_lost is not None

    def _task_started(self, event: tuple[float, dict[str, str]]) -> None:
        _, message = event
        self._started_on[message["key"]].append(message["worker"])


async def _first_of(future: Any, waiters: list[asyncio.Future[ItemOutcome]]) -> str | None:
    """The task's reply, or None as soon as every waiter is cancelled."""
    result = asyncio.ensure_future(future.result())
    while True:
        watched = {result, *[w for w in waiters if not w.done()]}
        if len(watched) == 1:
            result.cancel()
            return None
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if result.done():
            return str(result.result())


def _fail(batch: _Batch, error: Exception) -> None:
    if isinstance(error, CommClosedError | FutureCancelledError):
        failure: Exception = EnvironmentFailure(
            f"lost the dask scheduler, or it cancelled the items' task: {error}")
    elif isinstance(error, MapReduceError):
        failure = error
    else:
        ids = ", ".join(order.item_id for order in batch.orders)
        failure = MapReduceError(
            f"a dask worker could not run item(s) {ids}: {type(error).__name__}: {error}")
    for waiter in batch.waiters:
        if not waiter.done():
            waiter.set_exception(failure)


async def _quietly(awaitable: Awaitable[Any] | None) -> None:
    if awaitable is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.ensure_future(awaitable), CLOSE_TIMEOUT_SECS)


def dask_backend(
    client: Client, *, batch_size: int | None = None, on_lost: Callable[[], None] | None = None
) -> BackendFactory:
    """What `Services(backend=...)` takes: the map's capacity in, a DaskBackend out.

    With a running Dask scheduler (not something an example can start here)::

        client = await Client("tcp://scheduler:8786", asynchronous=True)
        services = Services(backend=dask_backend(client))
    """
    return lambda capacity: DaskBackend(client=client, capacity=capacity,
                                        batch_size=batch_size, on_lost=on_lost)


@contextlib.asynccontextmanager
async def connect(address: str | None) -> AsyncIterator[Client]:
    """An asynchronous client of the scheduler at `address`, or of a new local cluster of
    worker processes (one per core) when it is None; closed (and the cluster stopped) after.
    """
    _quiet_dask_logs()
    cluster = None
    try:
        if address is None:
            cluster = await LocalCluster(
                n_workers=os.cpu_count() or 1, threads_per_worker=LOCAL_THREADS_PER_WORKER,
                processes=True, dashboard_address=None, asynchronous=True,
            )
            address = str(cluster.scheduler_address)
        client = await _client(address)
        try:
            yield client
        finally:
            await _quietly(client.close(timeout=CLOSE_TIMEOUT_SECS))
    finally:
        if cluster is not None:
            await _quietly(cluster.close(timeout=CLOSE_TIMEOUT_SECS))


def _quiet_dask_logs() -> None:
    """Dask logs tracebacks when a connection drops; the run says itself what went wrong."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


async def _client(address: str) -> Client:
    try:
        client: Client = await Client(address, asynchronous=True, timeout=CONNECT_TIMEOUT_SECS,
                                      set_as_default=False)
    except (TimeoutError, OSError) as error:
        raise EnvironmentFailure(
            f"cannot reach the dask scheduler at {address} (connecting for "
            f"{CONNECT_TIMEOUT_SECS:g}s: {error}); start one with `dask scheduler`, or check "
            "--scheduler / MAPREDUCE_FSM_DASK_SCHEDULER"
        ) from None
    except ValueError as error:
        raise UsageError(f"--scheduler {address!r} is not a dask scheduler address: {error}; "
                         "give one such as tcp://127.0.0.1:8786") from None
    return client


async def probe_working_dir(client: Client, working_dir: Path) -> None:
    """Every worker must see the job's working directory at the same path; say which cannot."""
    address = client.scheduler.address
    try:
        await client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_SECS)
    except TimeoutError:
        raise EnvironmentFailure(
            f"no dask worker joined the scheduler at {address} within "
            f"{WORKERS_TIMEOUT_SECS:g}s; start workers with `dask worker {address}`"
        ) from None
    seen = await client.run(can_see, str(working_dir))
    blind = sorted(worker for worker, sees in seen.items() if not sees)
    if blind:
        raise EnvironmentFailure(
            f"dask worker(s) {', '.join(blind)} of the scheduler at {address} cannot see the "
            f"job's working directory {working_dir}; workers must see it at the same path "
            "(a shared filesystem)"
        )


async def run_on_dask(
    address: str | None,
    working_dir: Path | None,
    job: Callable[[BackendFactory], Awaitable[T]],
    *,
    warn: Callable[[str], None],
) -> T:
    """Connect (or start a local cluster), probe the working directory, run the job.

    Losing the scheduler mid-run cancels the job as Ctrl-C would: it stops within about
    `WATCH_SECS` plus the time the job takes to write its checkpoint, and stays resumable.
    """
    async with connect(address) as client:
        if working_dir is not None:
            await probe_working_dir(client, working_dir)
        job_task = asyncio.current_task()
        assert job_task is not None

        scheduler = client.scheduler.address
        stopping: list[bool] = []

        def lost() -> None:
            if not stopping:
                stopping.append(True)
                warn(f"lost the dask scheduler at {scheduler}; "
                     "stopping the job as Ctrl-C would")
                job_task.cancel()

        async def watch() -> None:
            while client.status == "running":
                await asyncio.sleep(WATCH_SECS)
            lost()

        watcher = asyncio.create_task(watch())
        try:
            return await job(dask_backend(client, on_lost=lost))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
