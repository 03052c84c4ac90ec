"""The job directory: where a job's files live, how jobs are named, found and listed."""

from __future__ import annotations

import difflib
import errno
import os
import random
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import attrs

from mapreduce_fsm.convert import format_timestamp
from mapreduce_fsm.errors import (
    EnvironmentFailure,
    JobStateError,
    UsageError,
    describe_os_error,
    is_environment_error,
)
from mapreduce_fsm.state.atomic import fsync_dir, write_atomic
from mapreduce_fsm.state.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from mapreduce_fsm.state.dlq import DeadLetterStore
from mapreduce_fsm.state.events import EventLog
from mapreduce_fsm.state.journal import AttemptJournal, ResultsJournal
from mapreduce_fsm.state.lock import JobLock
from mapreduce_fsm.state.process_groups import RunningGroups

STATE_DIR_ENV = "MAPREDUCE_FSM_HOME"
DEFAULT_STATE_DIR = ".mapreduce-fsm"
MAX_JOB_ID_LENGTH = 100

_JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def resolve_state_dir(
    explicit: str | os.PathLike[str] | None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """--state-dir if given, else $MAPREDUCE_FSM_HOME, else `.mapreduce-fsm` in `cwd`."""
    base = Path.cwd() if cwd is None else cwd
    env = os.environ if environ is None else environ
    if explicit is not None and str(explicit):
        chosen, source = Path(explicit), "--state-dir"
    elif env.get(STATE_DIR_ENV):
        chosen, source = Path(env[STATE_DIR_ENV]), f"${STATE_DIR_ENV}"
    else:
        chosen, source = Path(DEFAULT_STATE_DIR), "the default state dir"
    resolved = (base / chosen.expanduser()).absolute()
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"{source} {str(resolved)!r} is a file, not a directory")
    return resolved


def new_job_id(
    workflow_name: str, *, now: datetime | None = None, rng: random.Random | None = None
) -> str:
    """`<name>-<yyyymmdd-hhmmss>-<4 hex>` (UTC), the name made safe and short enough."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    suffix = f"-{moment:%Y%m%d-%H%M%S}-{(rng or random.SystemRandom()).getrandbits(16):04x}"
    name = _UNSAFE.sub("-", workflow_name).strip("-.") or "job"
    return name[: MAX_JOB_ID_LENGTH - len(suffix)] + suffix


def check_job_id(job_id: str) -> str:
    """The id itself if it is a valid job id, else UsageError."""
    if not _JOB_ID.fullmatch(job_id) or job_id in {".", ".."}:
        raise UsageError(
            f"invalid job id {job_id!r}: a job id is 1 to {MAX_JOB_ID_LENGTH} characters of "
            "letters, digits, '.', '_' and '-' (and not '.' or '..')"
        )
    return job_id


@attrs.define
class JobStore:
    """One job's directory, `<state_dir>/jobs/<job_id>/`, and the files in it."""

    state_dir: Path
    job_id: str = attrs.field(validator=lambda _, __, value: check_job_id(value))
    results: ResultsJournal = attrs.field(init=False)
    attempts: AttemptJournal = attrs.field(init=False)
    dlq: DeadLetterStore = attrs.field(init=False)
    events: EventLog = attrs.field(init=False)
    processes: RunningGroups = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.results = ResultsJournal(self.path / "results.jsonl")
        self.attempts = AttemptJournal(self.path / "attempts.jsonl")
        self.dlq = DeadLetterStore(self.path / "dlq.jsonl")
        self.events = EventLog(self.path / "events.jsonl", self.job_id)
        self.processes = RunningGroups(self.path / "processes.jsonl")

    @property
    def path(self) -> Path:
        return self.state_dir / "jobs" / self.job_id

    @property
    def workflow_path(self) -> Path:
        return self.path / "workflow.yml"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.json"

    @classmethod
    def create(cls, state_dir: Path, job_id: str, workflow_text: str,
               files: Mapping[str, str] | None = None) -> JobStore:
        """Make the job's directory with the workflow text (and `files`, by name) in it,
        all at once.

        It is made under another name (`+creating-...`, which is no job id) and renamed
        into place when whole: a kill or a full disk on the way leaves no half-made job
        that `run` would call existing and `resume` could not read.
        """
        store = cls(state_dir, job_id)
        jobs = store.path.parent
        try:
            jobs.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"+creating-{job_id}-", dir=jobs))
        except OSError as exc:
            failure = EnvironmentFailure if is_environment_error(exc) else JobStateError
            raise failure(
                f"cannot create the job directory {store.path}: {exc.strerror or exc}"
            ) from exc
        try:
            write_atomic(staging / store.workflow_path.name, workflow_text)
            for name, text in (files or {}).items():
                write_atomic(staging / name, text)
            os.rename(staging, store.path)  # fails if a job of that id has files
            fsync_dir(jobs)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise JobStateError(
                    f"job {job_id} already exists in {jobs}; resume it with "
                    f"`mapreduce-fsm resume {job_id}` or choose another --job-id"
                ) from None
            failure = EnvironmentFailure if is_environment_error(exc) else JobStateError
            raise failure(
                f"cannot create job {job_id} in {jobs}: {describe_os_error(exc)}"
            ) from exc
        return store

    @classmethod
    def open(cls, state_dir: Path, job_id: str) -> JobStore:
        """The existing job `job_id`; JobStateError (with similar ids) if there is none."""
        store = cls(state_dir, job_id)
        if not store.path.is_dir():
            similar = difflib.get_close_matches(job_id, _job_ids(state_dir), n=5, cutoff=0.5)
            hint = f"; similar ids: {', '.join(similar)}" if similar else ""
            raise JobStateError(
                f"no job {job_id} in {store.path.parent} (the state dir is set by "
                f"--state-dir or ${STATE_DIR_ENV}){hint}"
            )
        return store

    def read_workflow_text(self) -> str:
        try:
            return self.workflow_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise JobStateError(
                f"job {self.job_id}: cannot read the workflow it was run with "
                f"({self.workflow_path}): {exc}"
            ) from exc

    def save_workflow_text(self, workflow_text: str) -> None:
        """Replace the kept workflow (a resume with --force runs the changed file)."""
        write_atomic(self.workflow_path, workflow_text)

    def lock(self) -> JobLock:
        """The job's lock, not yet acquired: `with store.lock(): run...`.

        Releasing it syncs and closes the journals (`close()`): the run is over.
        """
        return JobLock(self.path / "lock", self.job_id, on_release=self.close)

    def load_checkpoint(self) -> Checkpoint | None:
        return read_checkpoint(self.checkpoint_path)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        write_checkpoint(self.checkpoint_path, checkpoint)

    def close(self) -> None:
        """Sync and close the journals (call when the run ends, however it ends)."""
        self.results.close()
        self.attempts.close()
        self.dlq.close()
        self.events.close()
        self.processes.close()


@attrs.frozen(kw_only=True)
class JobSummary:
    """One line of `mapreduce-fsm jobs`; `problem` says why a job could not be read fully."""

    job_id: str
    workflow_name: str
    state: str
    ok: int
    failed: int  # failed or timed out
    skipped: int
    total: int | None  # items the map found, once it knows
    created_at: str | None
    updated_at: str | None
    problem: str | None
    running: bool  # a live process holds the job's lock


def list_jobs(state_dir: Path) -> list[JobSummary]:
    """Every job in the state dir, newest first; a job that cannot be read says why."""
    summaries = [_summarize(JobStore(state_dir, job_id)) for job_id in _job_ids(state_dir)]
    return sorted(summaries, key=lambda summary: summary.created_at or "", reverse=True)


def _summarize(store: JobStore) -> JobSummary:
    counts = {"success": 0, "failed": 0, "timeout": 0, "skipped": 0}
    problem = None
    try:
        checkpoint = store.load_checkpoint()
    except JobStateError as exc:
        checkpoint, problem = None, f"corrupt checkpoint: {exc}"
    else:
        if checkpoint is None:
            problem = ("no checkpoint yet: the run stopped before its first phase "
                       "(`resume` starts it if it has no results)")
    try:
        counts.update(store.results.counts().statuses)
    except (JobStateError, OSError) as exc:
        problem = problem or f"unreadable results: {exc}"
    total = None
    if checkpoint is not None:
        items_phase = checkpoint.phases.get(checkpoint.item_phase or "")
        found = items_phase.data.get("total") if items_phase is not None else None
        total = found if isinstance(found, int) and not isinstance(found, bool) else None
    return JobSummary(
        job_id=store.job_id,
        workflow_name=checkpoint.workflow_name if checkpoint else "",
        state=checkpoint.state if checkpoint else "unknown",
        ok=counts["success"],
        failed=counts["failed"] + counts["timeout"],
        skipped=counts["skipped"],
        total=total,
        created_at=checkpoint.created_at if checkpoint else _mtime(store.path),
        updated_at=checkpoint.updated_at if checkpoint else None,
        problem=problem,
        running=store.lock().live_holder() is not None,
    )


def _mtime(path: Path) -> str | None:
    try:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None
    return format_timestamp(stamp)


def job_ids(state_dir: Path) -> list[str]:
    """The ids of the jobs in the state dir, sorted."""
    return _job_ids(state_dir)


def _job_ids(state_dir: Path) -> list[str]:
    try:
        entries = list((state_dir / "jobs").iterdir())
    except OSError:
        return []
    return sorted(  # anything else in there was not made by this program
        entry.name for entry in entries if entry.is_dir() and _JOB_ID.fullmatch(entry.name)
    )
