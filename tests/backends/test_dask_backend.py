"""DaskBackend on an in-process cluster: orders as data, batching, cancelling, the probe."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from mapreduce_fsm.agents import AgentSpec, ItemOutcome, WorkOrder
from mapreduce_fsm.backends import LocalBackend
from mapreduce_fsm.backends.choice import BackendChoice, run_on_backend
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.errors import EnvironmentFailure, UsageError

pytest.importorskip("distributed")

from distributed import Client, LocalCluster

from mapreduce_fsm.backends.dask import (
    MAX_BATCH,
    DaskBackend,
    auto_batch_size,
    probe_working_dir,
)
from mapreduce_fsm.backends.dask_tasks import STARTED_TOPIC, batch_json, read_batch

T = TypeVar("T")


def on_cluster(use: Callable[[Any], Awaitable[T]]) -> T:
    """Run `use(client)` against a fresh in-process cluster of two workers."""

    async def main() -> T:
        async with LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                                dashboard_address=None, asynchronous=True) as cluster, \
                Client(cluster, asynchronous=True, set_as_default=False) as client:
            return await use(client)

    return asyncio.run(main())


def spec(tmp_path: Path, *steps: Step) -> AgentSpec:
    return AgentSpec(steps=steps, variables={"greeting": "hello"}, item_total=10,
                     cwd=str(tmp_path), env={"TOKEN": "s3cret"}, secrets=("s3cret",),
                     kill_grace_secs=0.2)


def orders(tmp_path: Path, count: int, *steps: Step) -> list[WorkOrder]:
    shared = spec(tmp_path, *steps)
    return [shared.order(item={"n": index}, item_id=f"item-{index}", item_index=index,
                         attempt=1) for index in range(count)]


def comparable(outcome: ItemOutcome) -> dict[str, Any]:
    """The outcome without what differs from run to run (times, where it ran)."""
    result = attrs.asdict(outcome.result)
    for name in ("started_at", "finished_at", "duration_secs"):
        result.pop(name)
    return {"result": result, "stderr_tail": outcome.stderr_tail,
            "fail_workflow": outcome.fail_workflow}


def test_an_order_on_a_worker_gives_the_outcome_the_local_backend_gives(tmp_path: Path) -> None:
    steps = (Step(shell='printf "%s %s $TOKEN" "${greeting}" "$ITEM_ID"', capture_output="said"),
             Step(shell="echo oops >&2; exit 3"))
    (work,) = orders(tmp_path, 1, *steps)

    async def use(client: Any) -> ItemOutcome:
        return await DaskBackend(client=client, capacity=2).run(work)

    remote = on_cluster(use)
    local = asyncio.run(LocalBackend(capacity=1).run(work))
    assert comparable(remote) == comparable(local)
    assert remote.result.status == "failed" and "oops" in remote.stderr_tail
    assert remote.result.captures == {"said": "hello item-0 ***"}  # the secret stays masked
    assert remote.worker is not None and remote.worker_losses == 0


def test_identical_orders_each_run_because_submits_are_not_deduplicated(tmp_path: Path) -> None:
    (work,) = orders(tmp_path, 1, Step(shell="echo ran >> runs.log"))

    async def use(client: Any) -> list[ItemOutcome]:
        backend = DaskBackend(client=client, capacity=3, batch_size=1)
        return list(await asyncio.gather(*(backend.run(work) for _ in range(3))))

    assert [outcome.result.status for outcome in on_cluster(use)] == ["success"] * 3
    assert (tmp_path / "runs.log").read_text() == "ran\n" * 3


def test_a_batch_travels_in_one_task_and_each_item_gets_its_own_outcome(tmp_path: Path) -> None:
    work = orders(tmp_path, 10, Step(shell='echo "${item.n}"'))

    async def use(client: Any) -> tuple[list[ItemOutcome], set[str]]:
        backend = DaskBackend(client=client, capacity=10, batch_size=5)
        outcomes = await asyncio.gather(*(backend.run(order) for order in work))
        events = await client.get_events(STARTED_TOPIC)
        return list(outcomes), {message["key"] for _, message in events}

    outcomes, task_keys = on_cluster(use)
    assert [(o.result.item_id, o.result.output) for o in outcomes] == [
        (f"item-{index}", f"{index}\n") for index in range(10)]
    assert len(task_keys) == 2


def test_a_batch_carries_its_shared_spec_once_and_reads_back_as_the_same_orders(
    tmp_path: Path
) -> None:
    work = orders(tmp_path, 3, Step(shell="echo ${item.n}", env={"MODE": "strict"}))
    text = batch_json(work)
    assert read_batch(text) == work
    assert text.count('"MODE"') == 1


def test_the_batch_size_rule() -> None:
    assert auto_batch_size(capacity=200, threads=4) == 25
    assert auto_batch_size(capacity=1000, threads=1) == MAX_BATCH
    assert auto_batch_size(capacity=3, threads=8) == 1


def test_the_chosen_batch_size_grows_after_short_items(tmp_path: Path) -> None:
    work = orders(tmp_path, 4, Step(shell="true"))

    async def use(client: Any) -> tuple[int, int]:
        backend = DaskBackend(client=client, capacity=40)
        before = backend.current_batch_size()
        await asyncio.gather(*(backend.run(order) for order in work))
        return before, backend.current_batch_size()

    before, after = on_cluster(use)
    assert before == 1  # nothing known yet: a long item must not hold others back
    assert after == auto_batch_size(capacity=40, threads=4) > 1


def test_cancelling_a_run_cancels_the_task_and_kills_its_step(tmp_path: Path) -> None:
    (work,) = orders(tmp_path, 1, Step(shell="echo $$ > step.pid; exec sleep 60"))
    pid_file = tmp_path / "step.pid"

    async def use(client: Any) -> bool:
        run = asyncio.create_task(DaskBackend(client=client, capacity=1).run(work))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        pid = int(pid_file.read_text())
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return _alive(pid)  # asked before the cluster closes: closing waits for the task

    assert not on_cluster(use), "the step kept running on the worker after its run was cancelled"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def test_the_probe_names_the_directory_workers_cannot_see(tmp_path: Path) -> None:
    missing = tmp_path / "not-shared"

    async def use(client: Any) -> None:
        await probe_working_dir(client, tmp_path)  # seen: no error
        await probe_working_dir(client, missing)

    with pytest.raises(EnvironmentFailure, match=f"cannot see the job's working directory "
                       f"{missing}") as raised:
        on_cluster(use)
    assert raised.value.exit_code == 5


def test_backend_dask_without_dask_installed_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mapreduce_fsm.backends.dask", None)

    async def job(factory: object) -> None:
        raise AssertionError("the job must not start")

    with pytest.raises(UsageError, match=r"pip install 'mapreduce-fsm\[dask\]'") as raised:
        asyncio.run(run_on_backend(BackendChoice(name="dask"), None, job, warn=print))
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(("backend", "scheduler", "environ", "expected"), [
    (None, None, {}, BackendChoice()),
    (None, None, {"MAPREDUCE_FSM_DASK_SCHEDULER": "tcp://h:1"}, BackendChoice()),
    ("dask", None, {"MAPREDUCE_FSM_DASK_SCHEDULER": "tcp://h:1"},
     BackendChoice(name="dask", scheduler="tcp://h:1")),
    ("dask", None, {}, BackendChoice(name="dask")),
    (None, "tcp://h:2", {}, BackendChoice(name="dask", scheduler="tcp://h:2")),
    ("local", None, {"MAPREDUCE_FSM_DASK_SCHEDULER": "tcp://h:1"}, BackendChoice()),
])
def test_the_flags_choose_the_backend(backend: str | None, scheduler: str | None,
                                      environ: dict[str, str], expected: BackendChoice) -> None:
    assert BackendChoice.from_flags(backend, scheduler, environ) == expected


def test_a_scheduler_for_the_local_backend_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--scheduler tcp://h:1 is for --backend dask"):
        BackendChoice.from_flags("local", "tcp://h:1", {})


@attrs.define
class DroppedConnection:
    """A client whose scheduler connection drops under a task: the race the watcher can lose."""

    status: str = "running"

    def subscribe_topic(self, topic: str, handler: object) -> None:
        pass

    def submit(self, *args: object, **kwargs: object) -> DroppedConnection:
        return self

    async def result(self) -> str:
        from distributed.comm.core import CommClosedError

        raise CommClosedError("in <TCP (closed) ConnectionPool.gather>: Stream is closed")


def test_a_dropped_scheduler_connection_stops_the_job_instead_of_failing_the_item(
    tmp_path: Path
) -> None:
    (work,) = orders(tmp_path, 1, Step(shell="true"))
    told: list[str] = []

    async def main() -> str:
        backend = DaskBackend(client=DroppedConnection(), capacity=1,
                              on_lost=lambda: told.append("lost"))
        run = asyncio.create_task(backend.run(work))
        while not told:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        state = "pending" if not run.done() else f"ended: {run.exception()!r}"
        run.cancel()  # what on_lost's cancel of the job does to it
        await asyncio.gather(run, return_exceptions=True)
        return state

    assert asyncio.run(asyncio.wait_for(main(), 30)) == "pending"
    assert told == ["lost"]


def test_the_command_lines_backend_names_are_the_backends_own() -> None:
    # The command line keeps its own copy so that `--help` imports no backend.
    from mapreduce_fsm.backends import choice
    from mapreduce_fsm.cli import backend_flags

    assert backend_flags.BACKEND_NAMES == choice.BACKEND_NAMES
    assert backend_flags.SCHEDULER_ENV == choice.SCHEDULER_ENV
