"""Shared hypothesis settings, and the end-of-session check that no dask process is left."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may leave a dask scheduler or worker running: name them, end them, fail."""
    left = leftover_dask_processes()
    if not left:
        return
    for line in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    sys.stderr.write("dask processes left running by the tests:\n" + "\n".join(left) + "\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
