"""The embedding API: run a workflow file as a new job, or resume a job, from Python."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from mapreduce_fsm.agents.order import remove_abandoned_item_areas
from mapreduce_fsm.backends.base import BackendFactory
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.console.interaction import SilentInteraction, UserInteraction
from mapreduce_fsm.console.progress import NullProgress, ProgressReporter
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git import GitSession, decide_isolation, open_session
from mapreduce_fsm.git.session import check_session_branch_free, ignore_state_dir, reopen_session
from mapreduce_fsm.jobs.load import PROFILE_FILE, load_job, resolve_secrets
from mapreduce_fsm.jobs.preview import check_input_before_start
from mapreduce_fsm.jobs.run_options import RUN_OPTIONS_FILE, KeptOptions, apply_kept_options
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.phases.coordinator import PhaseCoordinator, WorkflowResult
from mapreduce_fsm.phases.registry import build_phases
from mapreduce_fsm.phases.types import (
    DefaultTransitionHandler,
    PhaseExecutor,
    PhaseTransitionHandler,
)
from mapreduce_fsm.state import (
    EventCallback,
    JobStore,
    check_job_id,
    new_job_id,
    resolve_state_dir,
)


@attrs.frozen(kw_only=True)
class Services:
    """The pluggable parts of a run; every field has a sensible default.

    By default a run prints nothing: prompts are answered yes (as without a terminal) and
    step output is kept in the job directory (`mapreduce-fsm logs`). Pass
    `interaction=NonInteractive()` (or `ConsoleInteraction()`) to see messages.
    """

    interaction: UserInteraction = attrs.field(factory=SilentInteraction)
    handler: PhaseTransitionHandler = attrs.field(factory=DefaultTransitionHandler)
    progress: ProgressReporter = attrs.field(factory=NullProgress)
    options: RunOptions = attrs.field(factory=RunOptions)
    # Called with every event of the job, from the first one on, as it is written.
    event_subscribers: Sequence[EventCallback] = ()
    # Where map items run: capacity in, backend out (backends.dask.dask_backend); None: here.
    backend: BackendFactory | None = None

    def watch(self, store: JobStore) -> JobStore:
        """Subscribe `event_subscribers` to the job's events; returns the store."""
        for callback in self.event_subscribers:
            store.events.subscribe(callback)
        return store


def _coordinator(
    store: JobStore,
    services: Services,
    secrets: Mapping[str, str],
    phases: Sequence[PhaseExecutor],
) -> PhaseCoordinator:
    return PhaseCoordinator(
        phases=list(phases),
        store=store,
        handler=services.handler,
        interaction=services.interaction,
        options=services.options,
        progress_reporter=services.progress,
        secrets=secrets,
    )


@attrs.frozen(kw_only=True)
class NewJob:
    """A new job, loaded and checked by `plan_job`; nothing is written until it starts."""

    workflow: Workflow
    workflow_text: str = attrs.field(repr=False)
    workflow_path: Path  # absolute
    job_id: str
    state_dir: Path
    working_dir: Path
    secrets: Mapping[str, str] = attrs.field(repr=False)
    profile: str | None = None  # the --profile laid over env; kept in the job for resume

    @property
    def path(self) -> Path:
        """The job's directory, made when the job starts."""
        return self.state_dir / "jobs" / self.job_id


def plan_job(
    workflow_path: str | os.PathLike[str],
    *,
    job_id: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    working_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> NewJob:
    """Read and validate the workflow file once, and check all a new job needs: its secrets,
    the state dir, a job id that is valid and free, and an input file that exists (when no
    setup phase could make it). Writes nothing.

    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> _ = open("items.json", "w").write('["a", "b"]')
    >>> _ = open("demo.yml", "w").write("name: demo\\nmap: {input: items.json, "
    ...                                  "agent_template: [{shell: 'echo ${item}'}]}")
    >>> job = plan_job("demo.yml", state_dir="state")
    >>> print(f"job {job.job_id} will keep its files in {job.path}")
    job demo-... will keep its files in .../state/jobs/demo-...
    >>> asyncio.run(start_job(job)).state
    'completed'
    """
    environ = os.environ if environ is None else environ
    path = Path(workflow_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise UsageError(f"cannot read workflow file {path}: {reason}") from None
    workflow = load_workflow_text(text, filename=str(path), environ=environ, profile=profile)
    secrets = resolve_secrets(workflow, environ)
    cwd = Path(working_dir) if working_dir is not None else Path.cwd()
    root = resolve_state_dir(state_dir, cwd=cwd, environ=environ)
    job_id = check_job_id(job_id) if job_id is not None else new_job_id(workflow.name)
    job = NewJob(workflow=workflow, workflow_text=text, workflow_path=path.resolve(),
                 job_id=job_id, state_dir=root, working_dir=cwd, secrets=secrets,
                 profile=profile)
    if job.path.exists():
        flag = "" if state_dir is None else f" --state-dir {shlex.quote(os.fspath(state_dir))}"
        raise UsageError(
            f"job {job_id} already exists in {job.path.parent}; resume it with "
            f"`mapreduce-fsm resume {shlex.quote(job_id)}{flag}` or choose another --job-id"
        )
    check_input_before_start(job)
    return job


async def start_job(
    job: NewJob,
    *,
    services: Services | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
) -> WorkflowResult:
    """Make the planned job's directory and run the job to an end state."""
    services = services or Services()
    plan = decide_isolation(job.workflow, requested=services.options.isolation,
                            cwd=job.working_dir)
    coordinator_phases = (list(phases) if phases is not None
                          else build_phases(job.workflow, isolated=plan.isolated,
                                                       backend=services.backend))
    ignore_state_dir(job.state_dir)
    if plan.isolated:
        check_session_branch_free(job.working_dir, job.job_id)
    # The profile and options go in with the job, so a kill never leaves a job that lost them.
    kept = KeptOptions(max_parallel=services.options.max_parallel, isolation=plan.mode,
                       working_dir=str(job.working_dir.resolve()),
                       workflow_path=str(job.workflow_path))
    files = {RUN_OPTIONS_FILE: kept.to_json()}
    if job.profile is not None:
        files[PROFILE_FILE] = job.profile
    store = services.watch(JobStore.create(job.state_dir, job.job_id, job.workflow_text,
                                           files=files))
    coordinator = _coordinator(store, services, job.secrets, coordinator_phases)
    with store.lock():
        working_dir = job.working_dir
        if plan.isolated:  # the job works in its session worktree (docs/workflow-format.md §8)
            session = await open_session(store.path, job_id=job.job_id, cwd=working_dir)
            working_dir = session.working_dir
        result = await coordinator.execute_workflow(
            job.workflow, working_dir=working_dir, workflow_text=job.workflow_text,
            workflow_path=job.workflow_path,
        )
    return attrs.evolve(result, job_path=store.path)


async def run_async(
    workflow_path: str | os.PathLike[str],
    *,
    job_id: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    working_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> WorkflowResult:
    """Load the workflow file, start a new job for it, and run it to an end state.

    `plan_job` then `start_job`. `profile` lays the workflow's `profiles.NAME` over its env;
    the job keeps the name so that `resume` applies it again. Without `state_dir`, jobs go
    to $MAPREDUCE_FSM_HOME or `.mapreduce-fsm` in `working_dir` (default: the current
    directory), where steps run.

    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> _ = open("items.json", "w").write('["a", "b"]')
    >>> _ = open("demo.yml", "w").write("name: demo\\nmap: {input: items.json, "
    ...                                  "agent_template: [{shell: 'echo ${item}'}]}")
    >>> result = asyncio.run(run_async("demo.yml", state_dir="state"))
    >>> result.state, result.exit_code
    ('completed', 0)
    """
    job = plan_job(workflow_path, job_id=job_id, state_dir=state_dir, working_dir=working_dir,
                   environ=environ, profile=profile)
    return await start_job(job, services=services, phases=phases)


async def resume_async(
    job_id: str,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkflowResult:
    """Continue a job where it stopped: any state, after a crash, a failure or a pause.

    The job runs the workflow as it was saved in its directory. When the original file
    changed since, the resume is refused unless `services.options.force` is set, in
    which case the changed file is run.
    """
    environ = os.environ if environ is None else environ
    services = services or Services()
    store = services.watch(
        JobStore.open(resolve_state_dir(state_dir, environ=environ), check_job_id(job_id))
    )
    with store.lock() as lock:
        if lock.took_over_from is not None:
            note = (f"job {job_id} was left locked by process {lock.took_over_from}, which is "
                    "gone (killed or crashed); taking the job over")
            services.interaction.display_warning(note)
            store.events.emit("job.lock_taken_over", previous_pid=lock.took_over_from)
        remove_abandoned_item_areas(job_id)  # a killed run's ITEM_JSON_FILEs
        checkpoint, workflow, secrets = load_job(
            store, force=services.options.force, environ=environ
        )
        kept = KeptOptions.read(store.path)
        # A job killed before its first checkpoint may be isolated with no session yet.
        isolated = GitSession.load(store.path) is not None or (
            checkpoint is None and kept.isolation == "worktree")
        phase_list = list(phases) if phases is not None else build_phases(
            workflow, isolated=isolated, backend=services.backend)
        services = keep_run_options(store, services)
        coordinator = _coordinator(store, services, secrets, phase_list)
        if checkpoint is None:  # killed before its first checkpoint: start it now
            working_dir = Path(kept.working_dir or Path.cwd())
            if isolated:  # in its session worktree, never in the user's checkout
                session = await reopen_session(store.path, job_id=job_id, cwd=working_dir)
                working_dir = session.working_dir
            services.interaction.display_warning(
                f"job {job_id} never started (it has no checkpoint and no results); "
                f"starting it, with steps running in {working_dir}")
            result = await coordinator.execute_workflow(
                workflow, working_dir=working_dir, workflow_text=store.read_workflow_text(),
                workflow_path=Path(kept.workflow_path) if kept.workflow_path else None)
        else:
            result = await coordinator.resume_from_checkpoint(checkpoint, workflow)
    return attrs.evolve(result, job_path=store.path)


def keep_run_options(store: JobStore, services: Services) -> Services:
    """The run's `max_parallel` goes on in later runs of the job unless given again."""
    return attrs.evolve(services, options=apply_kept_options(store.path, services.options))


def _refuse_running_loop(name: str) -> None:
    """UsageError when called from a running event loop, where asyncio.run cannot work."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UsageError(f"{name}() cannot be called inside a running event loop (a notebook, "
                     f"an async function): use `await {name}_async(...)` there")


def run(
    workflow_path: str | os.PathLike[str],
    *,
    job_id: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    working_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> WorkflowResult:
    """`run_async` for code that is not async.

    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> _ = open("items.json", "w").write('["a", "b"]')
    >>> _ = open("demo.yml", "w").write("name: demo\\nmap: {input: items.json, "
    ...                                  "agent_template: [{shell: 'echo ${item}'}]}")
    >>> run("demo.yml", state_dir="state").exit_code
    0

    Inside a running event loop (a notebook), `await run_async(...)` instead.
    """
    _refuse_running_loop("run")
    return asyncio.run(run_async(workflow_path, job_id=job_id, state_dir=state_dir,
                                 working_dir=working_dir, services=services, phases=phases,
                                 environ=environ, profile=profile))


def resume(
    job_id: str,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    services: Services | None = None,
    phases: Sequence[PhaseExecutor] | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkflowResult:
    """`resume_async` for code that is not async."""
    _refuse_running_loop("resume")
    return asyncio.run(resume_async(job_id, state_dir=state_dir, services=services,
                                    phases=phases, environ=environ))


# The names these had first; README examples and embedders may still use them.
run_workflow = run_async
resume_job = resume_async
