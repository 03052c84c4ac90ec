"""What a job runs with: its secrets, and to go on (resume, retry) its checkpoint and workflow."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.errors import JobStateError, UsageError
from mapreduce_fsm.jobs.run_options import KeptOptions
from mapreduce_fsm.phases.machine import check_machine_state
from mapreduce_fsm.state import Checkpoint, JobStore, workflow_digest

PROFILE_FILE = "profile"  # in the job directory: the --profile the job was started with


def resolve_secrets(workflow: Workflow, environ: Mapping[str, str]) -> dict[str, str]:
    """Secret values for this run; a missing variable or file stops the run before it starts."""
    values: dict[str, str] = {}
    missing = []
    for name, spec in workflow.secrets.items():
        if spec.provider == "file":
            file = Path(spec.key).expanduser()
            try:
                values[name] = file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else str(error)
                missing.append(f"{name} (from file {file}: {reason})")
        elif spec.key in environ:
            values[name] = environ[spec.key]
        else:
            missing.append(f"{name} (from ${spec.key})")
    if missing:
        raise UsageError(
            f"workflow {workflow.name!r} needs secrets that are not set: {', '.join(missing)}; "
            "export the environment variables (or create the files) and run again"
        )
    return values


def load_job(
    store: JobStore, *, force: bool, environ: Mapping[str, str]
) -> tuple[Checkpoint | None, Workflow, dict[str, str]]:
    """A job's checkpoint, the workflow to go on with and its secrets (job locked).

    That is the workflow kept in the job directory; when the original file changed
    since, JobStateError unless `force`, which keeps and runs the changed file. No
    checkpoint (the run was killed before its first one): None if the job has no results
    either, JobStateError saying what to do if it has.
    """
    job_id = store.job_id
    checkpoint = store.load_checkpoint()
    if checkpoint is None and (found := len(store.results.statuses())):
        raise JobStateError(
            f"job {job_id} has {found} item results in {store.results.path} but no checkpoint "
            f"({store.checkpoint_path} is missing), so where it stopped is unknown. Restore "
            "the checkpoint from a backup, or start a new job with `mapreduce-fsm run`.")
    if checkpoint is not None:
        check_machine_state(checkpoint, store.checkpoint_path)
    text, source = store.read_workflow_text(), str(store.path / "workflow.yml")
    # Where the job was started from: a job killed before its first checkpoint kept it too.
    started_from = (checkpoint.workflow_path if checkpoint is not None
                    else KeptOptions.read(store.path).workflow_path)
    original = Path(started_from) if started_from else None
    if original is not None and original.is_file():
        current = original.read_text(encoding="utf-8")
        kept_digest = (checkpoint.workflow_digest if checkpoint is not None
                       else workflow_digest(text))
        if workflow_digest(current) != kept_digest:
            if not force:
                raise JobStateError(
                    f"the workflow file {original} changed since job {job_id} started; "
                    "going on would run a different workflow. Re-run with --force to "
                    "go on with the changed file, or start a new job."
                )
            text, source = current, str(original)
    profile_file = store.path / PROFILE_FILE
    profile = profile_file.read_text(encoding="utf-8") if profile_file.is_file() else None
    workflow = load_workflow_text(
        text, filename=source, environ=environ, profile=profile,
        base_dir=original.parent if original is not None else None)  # env_files are there
    secrets = resolve_secrets(workflow, environ)
    if source != str(store.path / "workflow.yml"):  # --force, a changed file
        store.save_workflow_text(text)
        if checkpoint is not None:
            checkpoint = attrs.evolve(checkpoint, workflow_digest=workflow_digest(text))
    return checkpoint, workflow, secrets
