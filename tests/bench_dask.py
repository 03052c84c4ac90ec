"""`make bench`, part 3: the Dask backend against the local backend, in the same run.

One process runs the same 2,000-item job of `true` through the Python API on the local
backend, then on a local Dask cluster of worker processes (started once, before the
timing) with and without batching. Runs are taken in turns; medians are reported.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from mapreduce_fsm.backends.base import BackendFactory
from mapreduce_fsm.jobs.run import Services, run_workflow
from mapreduce_fsm.phases.context import RunOptions

ITEMS = 2000
WORKERS, THREADS = 2, 4  # 8 steps at a time on the cluster, as max_parallel 8 locally
LOCAL_PARALLEL = 8
DASK_IN_FLIGHT = 200  # orders queued on the cluster; 8 run at a time
TARGET_RATIO = 2.0
WORKFLOW = """\
name: bench-dask
map:
  input: items.json
  agent_template:
    - shell: "true"
"""


async def _timed(folder: Path, backend: BackendFactory | None, parallel: int, run: int) -> float:
    state_dir = folder / f"state-{run}"
    services = Services(backend=backend, options=RunOptions(max_parallel=parallel))
    started = time.perf_counter()
    result = await run_workflow(folder / "bench.yml", state_dir=state_dir, working_dir=folder,
                                services=services)
    wall = time.perf_counter() - started
    shutil.rmtree(state_dir, ignore_errors=True)
    if result.exit_code != 0:
        raise RuntimeError(f"bench job ended {result.state}: {result.error}")
    return wall


async def _measure(folder: Path, runs: int) -> dict[str, list[float]]:
    from distributed import Client, LocalCluster

    from mapreduce_fsm.backends.dask import dask_backend

    async with LocalCluster(n_workers=WORKERS, threads_per_worker=THREADS, processes=True,
                            dashboard_address=None, asynchronous=True) as cluster, \
            Client(cluster, asynchronous=True, set_as_default=False) as client:
        kinds: dict[str, tuple[BackendFactory | None, int]] = {
            "local": (None, LOCAL_PARALLEL),
            "dask, 1 item a task": (dask_backend(client, batch_size=1), DASK_IN_FLIGHT),
            "dask, batched": (dask_backend(client), DASK_IN_FLIGHT),
        }
        walls: dict[str, list[float]] = {name: [] for name in kinds}
        counter = 0
        for _ in range(runs):
            for name, (backend, parallel) in kinds.items():
                counter += 1
                walls[name].append(await _timed(folder, backend, parallel, counter))
        return walls


def dask_section(root: Path, runs: int, say: Callable[[str], None] = print) -> float | None:
    """Print part 3; the batched dask / local ratio of per-item costs (None: no dask)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        say("3. dask backend: skipped (dask is not installed: pip install "
            "'mapreduce-fsm[dask]')")
        return None
    folder = root / "dask"
    folder.mkdir()
    (folder / "items.json").write_text(json.dumps(list(range(ITEMS))))
    (folder / "bench.yml").write_text(WORKFLOW)
    walls = asyncio.run(_measure(folder, runs))
    per_item = {name: statistics.median(times) / ITEMS for name, times in walls.items()}
    say(f"3. dask backend against local backend: {ITEMS} items of `true`, one process, "
        f"median of {runs} runs taken in turns")
    say(f"   local: max_parallel {LOCAL_PARALLEL}; dask: a local cluster of {WORKERS} worker "
        f"processes x {THREADS} threads, max_parallel {DASK_IN_FLIGHT} (orders in flight)")
    say(f"   {'backend':<22}{'median':>9}{'per item':>12}{'vs local':>10}")
    for name, times in walls.items():
        say(f"   {name:<22}{statistics.median(times):>8.2f}s"
            f"{per_item[name] * 1000:>9.3f} ms{per_item[name] / per_item['local']:>9.2f}x")
    ratio = per_item["dask, batched"] / per_item["local"]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    say(f"   batched dask {ratio:.2f}x the local backend's per-item cost: {verdict} the "
        f"<= {TARGET_RATIO:.1f}x target")
    say("")
    return ratio
