"""The data a backend exchanges: a work order for one item attempt, and the item's outcome.

Both are plain values that `convert.converter` turns into JSON and back unchanged, so a
backend may run an order in another process or on another machine.

The item reaches each step's process in `ITEM_JSON_FILE`, a file written where the order
runs (in a temporary directory of the job, removed when the order is done; one a killed
process left is removed by the job's next `resume` or `clean`), and also in
`ITEM_JSON` when it fits in one environment string: Linux limits one to 128 KiB
(MAX_ARG_STRLEN), and a larger `ITEM_JSON` would keep every step from starting.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.config.model import Step
from mapreduce_fsm.convert import compact_json
from mapreduce_fsm.state.logs import StepOutput
from mapreduce_fsm.state.records import ItemResult

MAX_ENV_STRING_BYTES = 128 * 1024  # MAX_ARG_STRLEN: one "NAME=value" string, NUL included
OUTPUT_CAP_BYTES = 64 * 1024  # of an item's combined stdout kept in its result
STDERR_TAIL_CHARS = 2000


@attrs.frozen(kw_only=True)
class AgentSpec:
    """What every item of one map shares: the template, the variables, the limits, the setting."""

    steps: tuple[Step, ...]
    variables: Mapping[str, Any]  # everything but the item: env, secrets, workflow, job, captures
    item_total: int
    cwd: str  # the job's working directory
    env: Mapping[str, str]  # on top of the environment where the order runs
    secrets: tuple[str, ...] = ()  # values masked out of captures, output and errors
    timeout_secs: float | None = None  # agent_timeout_secs: all steps of one item together
    kill_grace_secs: float = 2.0  # SIGTERM -> SIGKILL
    fail_on_timeout: bool = False  # timeout_config.timeout_action: fail — a timeout ends the job
    output_cap_bytes: int = OUTPUT_CAP_BYTES
    stderr_tail_chars: int = STDERR_TAIL_CHARS

    def order(self, *, item: Any, item_id: str, item_index: int, attempt: int) -> WorkOrder:
        return WorkOrder(spec=self, item=item, item_id=item_id, item_index=item_index,
                         attempt=attempt)


@attrs.frozen(kw_only=True)
class WorkOrder:
    """One attempt at one item. A deadline cannot travel: the clock starts where it runs."""

    spec: AgentSpec
    item: Any
    item_id: str
    item_index: int
    attempt: int
    cwd: str | None = None  # where this order's steps run, when not `spec.cwd` (its worktree)

    def item_json(self) -> str:
        return compact_json(self.item)

    def variables(self) -> dict[str, Any]:
        """What the template's steps may interpolate (docs/workflow-format.md section 3)."""
        return {
            **self.spec.variables,
            "item": self.item,
            "item_index": self.item_index,
            "item_total": self.spec.item_total,
            "item_id": self.item_id,
            "item_json": self.item_json(),
        }

    def env(self, item_file: Path | None = None, *, item_json: str | None = None
            ) -> dict[str, str]:
        """What every step's process gets on top of the environment where the order runs.

        `ITEM_JSON` only when it fits in one environment string; `ITEM_JSON_FILE` when
        the item was written to `item_file` (see `item_environment`). `item_json`: the
        item's JSON when the caller has it already.
        """
        if item_json is None:
            item_json = self.item_json()
        env = {**self.spec.env, "ITEM_INDEX": str(self.item_index), "ITEM_ID": self.item_id}
        if len(os.fsencode(f"ITEM_JSON={item_json}")) + 1 <= MAX_ENV_STRING_BYTES:
            env["ITEM_JSON"] = item_json
        if item_file is not None:
            env["ITEM_JSON_FILE"] = str(item_file)
        return env

    @contextlib.contextmanager
    def item_environment(self) -> Iterator[dict[str, str]]:
        """`env()` with the item written to `ITEM_JSON_FILE`, a file that lives while this
        block runs, in the job's temporary directory where the order runs."""
        job = self.spec.variables.get("job")
        job_id = str(job.get("id")) if isinstance(job, Mapping) else "job"
        item_file = _item_area(job_id) / f"item-{self.item_index}-{next(_item_numbers)}.json"
        item_json = self.item_json()
        _write_new_file(item_file, item_json.encode("utf-8"))
        try:
            yield self.env(item_file, item_json=item_json)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(item_file)


def _write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file at `path` (replacing one there), with os-level calls: per
    item of a big map, `Path.write_text`'s text layer cost as much as the write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


# Item files go in one temporary directory per job and process (made once: a directory
# per item would cost more than a short step), removed when the process exits. Its name
# holds the process id, so that one a killed process left can be told from one in use.
_item_areas: dict[str, Path] = {}
_item_numbers = itertools.count()


def _area_prefix(job_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in job_id)[:100]
    return f"mapreduce-fsm-{safe}-"


def _item_area(job_id: str) -> Path:
    area = _item_areas.get(job_id)
    if area is None or not area.is_dir():
        area = Path(tempfile.mkdtemp(prefix=f"{_area_prefix(job_id)}{os.getpid()}-"))
        _item_areas[job_id] = area
        atexit.register(shutil.rmtree, area, ignore_errors=True)
    return area


def remove_abandoned_item_areas(job_id: str) -> int:
    """Remove the job's item-file directories in this machine's temp dir whose process is
    gone (SIGKILL skips the removal at exit); how many. Call with the job locked."""
    name = re.compile(re.escape(_area_prefix(job_id)) + r"(\d+)-[^-]+")
    removed = 0
    for entry in Path(tempfile.gettempdir()).glob(f"{glob.escape(_area_prefix(job_id))}*"):
        found = name.fullmatch(entry.name)
        if found is not None and not _process_exists(int(found[1])):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@attrs.frozen(kw_only=True)
class ItemOutcome:
    """An item's result plus what the dead-letter queue wants to keep of a failure."""

    result: ItemResult
    stderr_tail: str = ""
    fail_workflow: bool = False  # the failed step's on_failure says: fail the whole job
    fail_reason: str = "on_failure has fail_workflow: true"  # why, for the job's error
    worker: str | None = None  # where it ran, when a backend runs orders elsewhere
    worker_losses: int = 0  # workers that died running it before it ran to the end
    # Each step's stdout and stderr, capped, for the job's logs (written by the runner).
    step_outputs: tuple[StepOutput, ...] = ()
