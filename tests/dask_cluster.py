"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on 127.0.0.1.

Every process is started in its own process group, on a free port, marked with this
test process's id in its environment (`SESSION_MARK`), and stopped by `DaskCluster.stop`;
`leftover_dask_processes` finds any that a test left behind (tests/conftest.py checks it
at the end of the session).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import attrs

SESSION_MARK = "MAPREDUCE_FSM_TEST_SESSION"
START_TIMEOUT_SECS = 60.0
STOP_TIMEOUT_SECS = 10.0
DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, SESSION_MARK: str(os.getpid())}
    with log.open("ab") as out:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=env, start_new_session=True)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM its process group, then SIGKILL if it is still there after a while."""
    if process.poll() is not None:
        return
    for signum, wait in ((signal.SIGTERM, STOP_TIMEOUT_SECS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@attrs.define
class DaskCluster:
    """A scheduler and its workers, started by a test; `stop` ends them all."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    logs: Path

    @classmethod
    def start(cls, logs: Path, *, workers: int = 2, threads: int = 2) -> DaskCluster:
        logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        scheduler = _spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--no-dashboard"], logs / "scheduler.log")
        cluster = cls(address=address, scheduler=scheduler, workers=[], logs=logs)
        try:
            cluster.wait_for_port(port)
            for _ in range(workers):
                cluster.add_worker(threads=threads)
            cluster.wait_for_workers(workers)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def add_worker(self, *, threads: int = 2) -> subprocess.Popen[bytes]:
        """A worker without a nanny: its pid is the process that runs the items' steps."""
        name = f"worker-{len(self.workers) + 1}"
        worker = _spawn([DASK, "worker", self.address, "--name", name, "--nworkers", "1",
                         "--nthreads", str(threads), "--no-nanny", "--no-dashboard"],
                        self.logs / f"{name}.log")
        self.workers.append(worker)
        return worker

    def wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while True:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.log('scheduler')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dask scheduler did not listen in time") from None
                time.sleep(0.1)

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_SECS) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT_SECS)

    @property
    def worker_pids(self) -> set[int]:
        return {worker.pid for worker in self.workers}

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in (*self.workers, self.scheduler):
            stop_process(process)


def leftover_dask_processes() -> list[str]:
    """Processes started from this test process (marked) that still run a dask program."""
    mark = f"{SESSION_MARK}={os.getpid()}".encode()
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if mark in environ and ("dask" in command or "distributed" in command
                                or "spawn_main" in command):
            left.append(f"{entry.name}: {command.strip()}")
    return left
