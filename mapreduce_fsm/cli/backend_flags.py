"""The `--backend` and `--scheduler` flags of run, resume and dlq retry, and what they open.

Like every module of the command line it imports only click at first: the backends are
imported when a command runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from mapreduce_fsm import Services

T = TypeVar("T")

# As backends.choice.BACKEND_NAMES and SCHEDULER_ENV (a test keeps them equal).
BACKEND_NAMES = ("local", "dask")
SCHEDULER_ENV = "MAPREDUCE_FSM_DASK_SCHEDULER"

BACKEND_OPTION = click.option(
    "--backend", type=click.Choice(BACKEND_NAMES),
    help="Where map items run (default local; dask when --scheduler is given).")
SCHEDULER_OPTION = click.option(
    "--scheduler", metavar="ADDRESS",
    help=f"Dask scheduler, e.g. tcp://host:8786 (or ${SCHEDULER_ENV}); none: a local cluster.")


def on_backend(
    backend: str | None, scheduler: str | None, working_dir: Path | None, services: Services,
    job: Callable[[Services], Awaitable[T]],
) -> Callable[[], Awaitable[T]]:
    """The job, run with the backend the flags choose open around it."""
    import os

    import attrs

    from mapreduce_fsm.backends.choice import BackendChoice, run_on_backend

    choice = BackendChoice.from_flags(backend, scheduler, os.environ)
    return lambda: run_on_backend(
        choice, working_dir, lambda factory: job(attrs.evolve(services, backend=factory)),
        warn=lambda message: click.echo(message, err=True))


def job_working_dir(job_id: str, state_dir: str | None) -> Path | None:
    """The working directory a job runs in, when its checkpoint can be read."""
    from mapreduce_fsm.errors import MapReduceError
    from mapreduce_fsm.state import JobStore, check_job_id, resolve_state_dir

    try:
        checkpoint = JobStore(resolve_state_dir(state_dir), check_job_id(job_id)).load_checkpoint()
    except (OSError, MapReduceError):
        return None  # the job's own checks say what is wrong with it
    return None if checkpoint is None else Path(checkpoint.working_dir)
