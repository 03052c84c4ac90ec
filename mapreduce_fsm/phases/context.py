"""What a phase executor sees: the workflow, the job's variables and progress, and its services."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.commands import SecretMasker, StepContext
from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.console.interaction import UserInteraction
from mapreduce_fsm.console.progress import NullProgress, ProgressReporter
from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.state import Checkpoint, JobStore, PhaseProgress
from mapreduce_fsm.state.records import Event, ItemResult


@attrs.frozen(kw_only=True)
class RunOptions:
    """Choices made on the command line (or by an embedding program) for one run."""

    max_parallel: int | None = None  # overrides map.max_parallel
    assume_yes: bool = False
    force: bool = False  # resume even though the workflow or its input changed
    kill_grace_secs: float = 2.0
    isolation: str | None = None  # --isolation: overrides the workflow's `isolation`
    show_step_stderr: bool = False  # -v: setup and reduce steps' stderr even when they succeed


@attrs.define
class CheckpointKeeper:
    """Holds the job's current checkpoint and writes every change of it atomically."""

    store: JobStore
    checkpoint: Checkpoint
    # Secrets are masked out of what is written (a capture may hold one); memory keeps them.
    masker: SecretMasker = attrs.field(factory=lambda: SecretMasker(()))

    def update(self, **changes: Any) -> Checkpoint:
        self.checkpoint = attrs.evolve(self.checkpoint, updated_at=utc_now(), **changes)
        self.store.save_checkpoint(self._for_disk(self.checkpoint))
        return self.checkpoint

    def _for_disk(self, checkpoint: Checkpoint) -> Checkpoint:
        if self.masker.masks_nothing:
            return checkpoint
        mask = self.masker.mask_value
        return attrs.evolve(
            checkpoint,
            variables=mask(checkpoint.variables),
            phases={name: attrs.evolve(progress, data=mask(progress.data),
                                       error=mask(progress.error))
                    for name, progress in checkpoint.phases.items()},
        )

    def phase(self, name: str) -> PhaseProgress:
        return self.checkpoint.phases.get(name, PhaseProgress())

    def update_phase(self, name: str, **changes: Any) -> PhaseProgress:
        progress = attrs.evolve(self.phase(name), **changes)
        self.update(phases={**self.checkpoint.phases, name: progress})
        return progress


@attrs.define
class PhaseContext:
    """Shared state of one job while it runs; every executor gets the same instance."""

    workflow: Workflow
    store: JobStore
    keeper: CheckpointKeeper
    interaction: UserInteraction
    secrets: Mapping[str, str]  # resolved secret values, never written to disk
    options: RunOptions = attrs.field(factory=RunOptions)
    progress_reporter: ProgressReporter = attrs.field(factory=NullProgress)
    # When resuming: "pending", "failed", "paused", a phase name (a crash in it), or
    # "retry_items" (dlq retry); None on a fresh run.
    resumed_from: str | None = None
    _map_results: list[ItemResult] | None = None

    @property
    def job_id(self) -> str:
        return self.store.job_id

    @property
    def masker(self) -> SecretMasker:
        return self.keeper.masker

    @property
    def working_dir(self) -> Path:
        return Path(self.keeper.checkpoint.working_dir)

    @property
    def variables(self) -> Mapping[str, Any]:
        """Variables the job has made so far (setup captures): saved in the checkpoint."""
        return self.keeper.checkpoint.variables

    def set_variables(self, variables: Mapping[str, Any]) -> None:
        self.keeper.update(variables=dict(variables))

    def progress(self, phase: str) -> PhaseProgress:
        return self.keeper.phase(phase)

    def update_progress(self, phase: str, **changes: Any) -> PhaseProgress:
        return self.keeper.update_phase(phase, **changes)

    def emit(self, event_type: str, *, phase: str | None = None, **data: Any) -> Event:
        return self.store.events.emit(event_type, phase=phase, **data)

    # Variables and environment (docs/workflow-format.md section 3).

    def base_variables(self) -> dict[str, Any]:
        """What every phase may interpolate: env, secrets, workflow, job, setup captures."""
        env = {**self.workflow.env, **self.secrets}
        return {
            **env,
            "env": env,
            "workflow": {"name": self.workflow.name},
            "job": {"id": self.job_id},
            **self.variables,
        }

    def process_env(self) -> dict[str, str]:
        """What every step's process gets on top of the environment of the run."""
        return {**self.workflow.env, **self.secrets, "JOB_ID": self.job_id}

    def step_context(
        self, *, timeout: float | None = None, extra_env: Mapping[str, str] | None = None,
        deadline_name: str = "the phase's time limit",
    ) -> StepContext:
        return StepContext(
            cwd=self.working_dir,
            env={**self.process_env(), **(extra_env or {})},
            masker=self.masker,
            deadline=None if timeout is None else time.monotonic() + timeout,
            deadline_name=deadline_name,
            kill_grace_secs=self.options.kill_grace_secs,
        )

    # Map results, for reduce and custom phases.

    def map_results(self) -> list[ItemResult]:
        """Every item's final result, in item order (read from the journal once)."""
        if self._map_results is None:
            loaded = self.store.results.load()
            self._map_results = sorted(loaded.results.values(), key=lambda r: r.item_index)
        return self._map_results

    def forget_map_results(self) -> None:
        """Called when the map writes new results (a DLQ retry, a resumed map)."""
        self._map_results = None
