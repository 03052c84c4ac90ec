"""Shared hypothesis settings, and the end-of-session check that no dask process is left."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.dask_cluster import SESSION_MARK, leftover_dask_processes

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


# Every dask process a test starts carries this process's id (tests/dask_cluster.py);
# children inherit it, so local clusters' worker processes are found too.
os.environ[SESSION_MARK] = str(os.getpid())


_LEFT_RUNNING: list[str] = []  # in the main process: what it and every xdist worker found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may leave a dask scheduler or worker running: end them, name them, fail."""
    left = leftover_dask_processes()
    for line in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the main process reports
        worker_output["dask_left_running"] = left
        return
    _LEFT_RUNNING.extend(left)
    if _LEFT_RUNNING:
        sys.stderr.write("dask processes left running by the tests (now killed):\n"
                         + "\n".join(_LEFT_RUNNING) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist: a worker ended; keep what it found left running."""
    _LEFT_RUNNING.extend(getattr(node, "workeroutput", {}).get("dask_left_running", []))
