"""Before a job exists: is its input file there, and what would the map's selection keep."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import attrs

from mapreduce_fsm.errors import InputError, InterpolationError, UsageError
from mapreduce_fsm.expressions.interpolate import interpolate
from mapreduce_fsm.workitems import load_work_items
from mapreduce_fsm.workitems.sources import input_is_a_command, missing_input_file

if TYPE_CHECKING:
    from mapreduce_fsm.jobs.run import NewJob

FIRST_IDS_SHOWN = 5


@attrs.frozen(kw_only=True)
class ItemsPreview:
    """What `run --dry-run` says of the map's items: the counts; or `not_loaded`, why they
    cannot be known before a run; or `error`, why the run would fail loading them."""

    origin: str = ""
    stage_counts: tuple[tuple[str, int], ...] = ()
    first_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    not_loaded: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"origin": self.origin or None, "stages": dict(self.stage_counts),
                "first_ids": list(self.first_ids), "warnings": list(self.warnings),
                "not_loaded": self.not_loaded, "error": self.error}


def _variables(job: NewJob) -> dict[str, Any]:
    env = {**job.workflow.env, **job.secrets}
    return {**env, "env": env, "workflow": {"name": job.workflow.name}, "job": {"id": job.job_id}}


def _input_spec(job: NewJob) -> str | None:
    """map.input with what is known before any step runs; None when it needs setup's captures."""
    try:
        return interpolate(job.workflow.map.input, _variables(job), where="map.input")
    except InterpolationError:
        return None


def check_input_before_start(job: NewJob) -> None:
    """UsageError when map.input names a data file that is not there and no setup phase
    could make it: better said before a job is created than by a failed job."""
    spec = _input_spec(job)
    if spec is None or job.workflow.setup is not None:
        return
    problem = missing_input_file(spec, job.working_dir)
    if problem is not None:
        raise UsageError(f"{problem}; no job was created")


async def preview_items(job: NewJob, *, run_command: bool) -> ItemsPreview:
    """Load and select the map's items as the run would, without making a job.

    A map.input command runs only with `run_command` (the user's consent: `--yes`);
    input that setup makes, or that uses setup's captures, cannot be known before a run.
    """
    spec = _input_spec(job)
    if spec is None:
        return ItemsPreview(not_loaded="map.input uses values setup captures; "
                                       "the items are known only once setup has run")
    if job.workflow.setup is not None and missing_input_file(spec, job.working_dir):
        return ItemsPreview(not_loaded=f"{spec.strip()} does not exist yet; setup may make it")
    if input_is_a_command(spec, job.working_dir) and not run_command:
        return ItemsPreview(not_loaded="map.input is a command, and a dry run runs nothing "
                                       "without consent: add --yes to run it and count the items")
    env = {**job.workflow.env, **job.secrets, "JOB_ID": job.job_id}
    try:
        items = await load_work_items(job.workflow.map, input_spec=spec, cwd=job.working_dir,
                                      env=env)
    except InputError as error:
        if job.workflow.setup is not None:  # setup runs first and may make the input anew
            return ItemsPreview(not_loaded=f"{error} (setup runs first and may change that)")
        return ItemsPreview(error=str(error))
    return ItemsPreview(origin=items.origin,
                        stage_counts=(*items.stage_counts, ("items", len(items.items))),
                        first_ids=tuple(item.id for item in items.items[:FIRST_IDS_SHOWN]),
                        warnings=items.warnings)


def preview(job: NewJob, *, run_command: bool) -> ItemsPreview:
    """`preview_items` for code that is not async."""
    return asyncio.run(preview_items(job, run_command=run_command))
