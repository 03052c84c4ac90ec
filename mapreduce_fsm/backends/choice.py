"""Where a run's items go, from `--backend` and `--scheduler`: this machine or a Dask cluster.

Dask is an optional extra; it is imported only when it is chosen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar

import attrs

from mapreduce_fsm.backends.base import BackendFactory
from mapreduce_fsm.errors import UsageError

SCHEDULER_ENV = "MAPREDUCE_FSM_DASK_SCHEDULER"
BACKEND_NAMES = ("local", "dask")
INSTALL_DASK = "pip install 'mapreduce-fsm[dask]'"

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class BackendChoice:
    """The backend named on the command line; `scheduler` None with dask: a local cluster."""

    name: Literal["local", "dask"] = "local"
    scheduler: str | None = None

    @classmethod
    def from_flags(
        cls, backend: str | None, scheduler: str | None, environ: Mapping[str, str]
    ) -> BackendChoice:
        """`--scheduler` alone means dask; the environment variable only gives an address."""
        if backend == "local":
            if scheduler:
                raise UsageError(f"--scheduler {scheduler} is for --backend dask, not local; "
                                 "drop one of them")
            return cls()
        if backend is None and not scheduler:
            return cls()
        return cls(name="dask", scheduler=scheduler or environ.get(SCHEDULER_ENV) or None)


async def run_on_backend(
    choice: BackendChoice,
    working_dir: Path | None,
    job: Callable[[BackendFactory | None], Awaitable[T]],
    *,
    warn: Callable[[str], None],
) -> T:
    """Run `job` with the chosen backend (None: the default, local) open around it.

    For dask: connect before anything of the job runs (an unreachable scheduler is an
    environment failure, exit 5), check that the workers see `working_dir`, and close
    the client (and a local cluster) when the job ends.
    """
    if choice.name == "local":
        return await job(None)
    try:
        from mapreduce_fsm.backends.dask import run_on_dask
    except ImportError as error:
        raise UsageError(f"--backend dask needs dask, which is not installed ({error}); "
                         f"install it with: {INSTALL_DASK}") from None
    return await run_on_dask(choice.scheduler, working_dir, job, warn=warn)
