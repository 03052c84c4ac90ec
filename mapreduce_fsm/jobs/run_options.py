"""What a job keeps of the run that started it (`run_options.json`), for resume and DLQ retry."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state.atomic import write_atomic

RUN_OPTIONS_FILE = "run_options.json"


def _positive_int(value: object) -> int | None:
    valid = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return value if valid and isinstance(value, int) else None


@attrs.frozen(kw_only=True)
class KeptOptions:
    """The options later runs of a job go on with unless they are given again.

    The job directory is made with this file in it (`JobStore.create(files=...)`), so a
    kill at any point never leaves a job that lost them.
    """

    max_parallel: int | None = None  # --max-parallel; None: the workflow's own value
    # What a job killed before its first checkpoint is started with again by `resume`:
    isolation: str | None = None  # the isolation decided, "worktree" or "none"
    working_dir: str | None = None  # where the run was started (absolute)
    workflow_path: str | None = None  # the file the job was started from (absolute)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self)) + "\n"

    @classmethod
    def read(cls, job_dir: Path) -> KeptOptions:
        """The job's kept options; the defaults for what is missing or unreadable."""
        try:
            data = json.loads((job_dir / RUN_OPTIONS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        isolation, working_dir = data.get("isolation"), data.get("working_dir")
        workflow_path = data.get("workflow_path")
        return cls(max_parallel=_positive_int(data.get("max_parallel")),
                   isolation=isolation if isolation in ("worktree", "none") else None,
                   working_dir=working_dir if isinstance(working_dir, str) else None,
                   workflow_path=workflow_path if isinstance(workflow_path, str) else None)

    def save(self, job_dir: Path) -> None:
        write_atomic(job_dir / RUN_OPTIONS_FILE, self.to_json())


def apply_kept_options(job_dir: Path, options: RunOptions) -> RunOptions:
    """`options` with the job's kept `max_parallel` when none is given; one given is kept."""
    kept = KeptOptions.read(job_dir)
    if options.max_parallel is not None:
        if options.max_parallel != kept.max_parallel:
            attrs.evolve(kept, max_parallel=options.max_parallel).save(job_dir)
        return options
    if kept.max_parallel is None:
        return options
    return attrs.evolve(options, max_parallel=kept.max_parallel)
