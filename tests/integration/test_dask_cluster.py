"""The command line on a real Dask cluster: `dask scheduler` and two `dask worker` processes.

Every item's step appends "ITEM PPID" to `ran.log`: its parent is the process that ran
it, so the test knows whether it ran in a worker, and how often each item ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapreduce_fsm.state import JobStore
from tests.dask_cluster import DaskCluster, free_port
from tests.integration.conftest import Cli, cli_command, cli_env, wait_for

pytest.importorskip("distributed")

ITEMS = 200
JOB_ID = "on-dask"
WORKFLOW = """\
name: on-dask
map:
  input: items.json
  max_parallel: 8
  agent_template:
    - shell: >-
        echo ${item} $PPID >> ran.log; sleep %(sleep)s;
        [ $((${item} %% 50)) -ne 0 ] || [ -e fixed ]
reduce:
  - shell: "echo ${map.successful} of ${map.total} > reduce.log"
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """One scheduler and two workers for the tests that kill none of them."""
    started = DaskCluster.start(tmp_path_factory.mktemp("dask-logs"))
    yield started
    started.stop()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    """A cluster of its own, for a test that kills part of it."""
    started = DaskCluster.start(tmp_path / "dask-logs")
    yield started
    started.stop()


def write_job(tmp_path: Path, *, sleep: float = 0.0, fixed: bool = True) -> None:
    (tmp_path / "items.json").write_text(json.dumps(list(range(ITEMS))), encoding="utf-8")
    (tmp_path / "wf.yml").write_text(WORKFLOW % {"sleep": sleep}, encoding="utf-8")
    if fixed:
        (tmp_path / "fixed").touch()


def runs(tmp_path: Path) -> list[tuple[int, int]]:
    """(item, pid of the process that ran its step), one per run of an item."""
    lines = (tmp_path / "ran.log").read_text(encoding="utf-8").splitlines()
    return [(int(item), int(pid)) for item, pid in (line.split() for line in lines)]


def results_per_item(state_dir: Path) -> Counter[str]:
    path = state_dir / "jobs" / JOB_ID / "results.jsonl"
    return Counter(json.loads(line)["item_id"] for line in path.read_text().splitlines())


def check_exactly_once(state_dir: Path) -> None:
    assert results_per_item(state_dir) == Counter({f"item-{i}": 1 for i in range(ITEMS)})


def start_run(tmp_path: Path, state_dir: Path, *backend: str) -> subprocess.Popen[bytes]:
    command = cli_command(("run", "wf.yml", "--job-id", JOB_ID, "--yes", *backend), state_dir)
    with (tmp_path / "run.err").open("wb") as err:
        return subprocess.Popen(command, cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


def wait_for_results(process: subprocess.Popen[bytes], state_dir: Path, count: int) -> None:
    journal = state_dir / "jobs" / JOB_ID / "results.jsonl"
    wait_for(lambda: (journal.exists() and len(journal.read_text().splitlines()) >= count)
             or process.poll() is not None, timeout=60, what=f"{count} results")
    assert process.poll() is None, "the run ended before the test could act"


def test_every_item_runs_in_a_worker_once_and_the_backend_is_in_the_events(
    cli: Cli, tmp_path: Path, state_dir: Path, cluster: DaskCluster
) -> None:
    write_job(tmp_path)

    done = cli("run", "wf.yml", "--job-id", JOB_ID, "--yes", "--backend", "dask",
               "--scheduler", cluster.address)

    assert done.code == 0, done.stderr
    ran = runs(tmp_path)
    assert sorted(item for item, _ in ran) == list(range(ITEMS))
    assert {pid for _, pid in ran} <= cluster.worker_pids
    check_exactly_once(state_dir)
    assert (tmp_path / "reduce.log").read_text() == f"{ITEMS} of {ITEMS}\n"
    (started,) = JobStore(state_dir, JOB_ID).events.read(types={"map.started"})
    assert started.data["backend"] == f"dask {cluster.address}"


def test_failed_items_reach_the_dlq_and_dlq_retry_reruns_them_on_the_cluster(
    cli: Cli, tmp_path: Path, state_dir: Path, cluster: DaskCluster
) -> None:
    write_job(tmp_path, fixed=False)
    on_cluster = ("--backend", "dask", "--scheduler", cluster.address)

    first = cli("run", "wf.yml", "--job-id", JOB_ID, "--yes", *on_cluster)

    assert first.code in (0, 4), first.stderr  # 4 where "completed with failed items" exists
    store = JobStore(state_dir, JOB_ID)
    failing = {f"item-{i}" for i in range(0, ITEMS, 50)}
    assert {entry.item_id for entry in store.dlq.load()} == failing
    shown = cli("dlq", "show", JOB_ID, "item-50", "--json", "--state-dir", str(state_dir))
    (attempt,) = json.loads(shown.stdout)["attempts"]
    assert attempt["exit_code"] == 1 and attempt["failed_step"] is not None
    (tmp_path / "fixed").touch()
    before = len(runs(tmp_path))

    retried = cli("dlq", "retry", JOB_ID, "--yes", *on_cluster, "--state-dir", str(state_dir))

    assert retried.code == 0, retried.stderr
    again = runs(tmp_path)[before:]
    assert sorted(item for item, _ in again) == sorted(range(0, ITEMS, 50))
    assert {pid for _, pid in again} <= cluster.worker_pids
    assert store.dlq.load() == []
    final = store.results.load().results
    assert {item_id: final[item_id].status for item_id in failing} == dict.fromkeys(
        failing, "success")


def test_a_worker_killed_mid_run_costs_reruns_never_a_second_result(
    tmp_path: Path, state_dir: Path, own_cluster: DaskCluster
) -> None:
    write_job(tmp_path, sleep=0.05)
    process = start_run(tmp_path, state_dir, "--scheduler", own_cluster.address)
    wait_for_results(process, state_dir, 20)
    doomed = own_cluster.workers[0]

    os.kill(doomed.pid, signal.SIGKILL)

    assert process.wait(timeout=120) == 0, (tmp_path / "run.err").read_text()
    check_exactly_once(state_dir)
    after_kill = [pid for _, pid in runs(tmp_path)][-20:]
    assert set(after_kill) == {own_cluster.workers[1].pid}
    store = JobStore(state_dir, JOB_ID)
    results = store.results.load().results.values()
    assert {result.attempts for result in results} == {1}  # a lost worker is no attempt
    lost = list(store.events.read(types={"item.worker_lost"}))
    assert lost, "the items the dead worker was running show as worker losses"
    assert all(event.data["losses"] >= 1 and event.data["finished_on"] for event in lost)


@pytest.mark.parametrize("resume_on", ["dask", "local"])
def test_a_runner_killed_mid_run_resumes_exactly_once_on_either_backend(
    cli: Cli, tmp_path: Path, state_dir: Path, cluster: DaskCluster, resume_on: str
) -> None:
    write_job(tmp_path, sleep=0.05)
    process = start_run(tmp_path, state_dir, "--backend", "dask", "--scheduler", cluster.address)
    wait_for_results(process, state_dir, 20)

    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    done_before = set(JobStore(state_dir, JOB_ID).results.load().results)
    backend = ("--scheduler", cluster.address) if resume_on == "dask" else ("--backend", "local")
    resumed = cli("resume", JOB_ID, "--yes", *backend)

    assert resumed.code == 0, resumed.stderr
    check_exactly_once(state_dir)
    times_run = Counter(f"item-{item}" for item, _ in runs(tmp_path))
    assert {item_id: times_run[item_id] for item_id in done_before} == dict.fromkeys(
        done_before, 1)
    resumed_pids = {pid for item, pid in runs(tmp_path) if f"item-{item}" not in done_before}
    if resume_on == "local":
        assert resumed_pids - cluster.worker_pids, "some items ran in the local runner"
    (_, second) = JobStore(state_dir, JOB_ID).events.read(types={"map.started"})
    assert second.data["backend"] == ("local" if resume_on == "local"
                                      else f"dask {cluster.address}")


def test_losing_the_scheduler_mid_run_stops_as_ctrl_c_would_and_the_job_resumes(
    cli: Cli, tmp_path: Path, state_dir: Path, own_cluster: DaskCluster
) -> None:
    write_job(tmp_path, sleep=0.05)
    process = start_run(tmp_path, state_dir, "--scheduler", own_cluster.address)
    wait_for_results(process, state_dir, 20)

    os.kill(own_cluster.scheduler.pid, signal.SIGKILL)

    code = process.wait(timeout=60)  # within seconds in practice; never a hang
    stderr = (tmp_path / "run.err").read_text()
    assert code == 130, stderr
    assert f"lost the dask scheduler at {own_cluster.address}" in stderr
    assert f"mapreduce-fsm resume {JOB_ID}" in stderr
    assert "Traceback" not in stderr
    checkpoint = JobStore(state_dir, JOB_ID).load_checkpoint()
    assert checkpoint is not None and checkpoint.state == "map"
    resumed = cli("resume", JOB_ID, "--yes")
    assert resumed.code == 0, resumed.stderr
    check_exactly_once(state_dir)


def test_an_unreachable_scheduler_exits_5_naming_it_before_any_phase(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    write_job(tmp_path)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there

    done = cli("run", "wf.yml", "--job-id", JOB_ID, "--yes", "--scheduler", address)

    assert done.code == 5, done.stderr
    assert f"cannot reach the dask scheduler at {address}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (state_dir / "jobs" / JOB_ID).exists()
    assert not (tmp_path / "ran.log").exists()


def test_backend_dask_without_an_address_runs_on_a_local_cluster_it_then_stops(
    cli: Cli, tmp_path: Path, state_dir: Path
) -> None:
    write_job(tmp_path)

    done = cli("run", "wf.yml", "--job-id", JOB_ID, "--yes", "--backend", "dask",
               env={"MAPREDUCE_FSM_DASK_SCHEDULER": ""})

    assert done.code == 0, done.stderr
    check_exactly_once(state_dir)
    (started,) = JobStore(state_dir, JOB_ID).events.read(types={"map.started"})
    assert started.data["backend"].startswith("dask tcp://127.0.0.1:")
    pids = {pid for _, pid in runs(tmp_path)}
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids), "a local worker was left"


def test_ctrl_c_exits_130_and_leaves_no_step_running_on_the_workers(
    tmp_path: Path, state_dir: Path, cluster: DaskCluster
) -> None:
    (tmp_path / "items.json").write_text(json.dumps(list(range(8))), encoding="utf-8")
    (tmp_path / "wf.yml").write_text(
        "name: long\nmap:\n  input: items.json\n  max_parallel: 4\n  agent_template:\n"
        '    - shell: "echo $$ >> steps.pid; exec sleep 60"\n', encoding="utf-8")
    pids = tmp_path / "steps.pid"
    process = start_run(tmp_path, state_dir, "--scheduler", cluster.address)
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) >= 4, timeout=60,
             what="four steps running on the workers")

    os.killpg(process.pid, signal.SIGINT)

    assert process.wait(timeout=60) == 130, (tmp_path / "run.err").read_text()
    steps = [int(pid) for pid in pids.read_text().split()]
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in steps), timeout=30,
             what="the steps on the workers to be killed")
