"""The job's checkpoint: machine state and each phase's progress, as versioned JSON data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

from mapreduce_fsm.convert import converter, describe_structure_error, to_json
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state.atomic import write_atomic

CHECKPOINT_FORMAT_VERSION = 1

PhaseStatus = Literal["pending", "running", "completed", "skipped", "failed", "paused"]


@attrs.frozen(kw_only=True)
class TransitionRecord:
    """One move of the machine: which trigger took it from where to where, and when."""

    trigger: str
    source: str
    dest: str
    at: str
    reason: str | None = None


def _not_negative(_: object, field: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{field.name} must be 0 or more, not {value}")


@attrs.frozen(kw_only=True)
class PhaseProgress:
    """How far one phase got."""

    status: PhaseStatus = "pending"
    # setup/reduce/custom: index of the first step not yet done; a resume checks that it
    # is not past the phase's last step (`phases.steps.run_phase_steps`)
    next_step: int = attrs.field(default=0, validator=_not_negative)
    data: Mapping[str, Any] = attrs.field(factory=dict)  # phase-specific JSON
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


@attrs.frozen(kw_only=True)
class Checkpoint:
    """Everything needed to resume a job, except map results (those are in the journal)."""

    format_version: int = CHECKPOINT_FORMAT_VERSION
    job_id: str
    workflow_name: str
    workflow_digest: str  # sha256 of the workflow file text
    workflow_path: str | None = None  # absolute path of the file the job was started from
    input_digest: str | None = None  # WorkItems.digest once the map loaded its items
    working_dir: str  # absolute; where steps run, kept for resume
    state: str  # the machine state: pending, <phase>, completed, failed, paused
    phase_order: tuple[str, ...]
    # The phase that processes items (its progress holds the item total); None when no
    # phase does, and in checkpoints written before this field existed.
    item_phase: str | None = None
    resume_phase: str | None = None  # the phase to re-enter when state is failed/paused
    # Items a `dlq retry` is taking the results of: set with the move into the item phase,
    # cleared once their results have left the journal (a resume finishes the removal).
    retrying_items: tuple[str, ...] = ()
    # How many item results `results.jsonl` held, durably, when this was written: a journal
    # found with fewer lost some (deleted, cut short), and a resume says so.
    durable_results: int = 0
    history: tuple[TransitionRecord, ...] = ()
    phases: Mapping[str, PhaseProgress] = attrs.field(factory=dict)
    variables: Mapping[str, Any] = attrs.field(factory=dict)  # JSON only
    created_at: str
    updated_at: str


def workflow_digest(text: str) -> str:
    """The sha256 of a workflow file's text, as a resume compares it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Save atomically: a reader sees the old checkpoint or the new one."""
    write_atomic(path, to_json(checkpoint) + "\n")


def read_checkpoint(path: Path) -> Checkpoint | None:
    """Load the checkpoint at `path`; None if there is none yet.

    Raises JobStateError naming the file and what is wrong for anything that is not
    a checkpoint this program can read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobStateError(f"cannot read checkpoint {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobStateError(
            f"checkpoint {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); the job cannot be resumed from it"
        ) from exc
    if isinstance(data, dict) and "format_version" not in data:
        raise JobStateError(
            f"checkpoint {path} is not a valid checkpoint: $.format_version: required field "
            "missing (every checkpoint this program writes has one; the file was changed by "
            "something else)"
        )
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version != CHECKPOINT_FORMAT_VERSION:
        advice = (
            "resume it with a newer mapreduce-fsm"
            if version > CHECKPOINT_FORMAT_VERSION
            else "it was written by an older, incompatible mapreduce-fsm"
        )
        raise JobStateError(
            f"checkpoint {path} has format version {version}, but this program reads "
            f"version {CHECKPOINT_FORMAT_VERSION} only; {advice}"
        )
    try:
        return converter.structure(data, Checkpoint)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        raise JobStateError(
            f"checkpoint {path} is not a valid checkpoint: {describe_structure_error(exc)}"
        ) from exc
