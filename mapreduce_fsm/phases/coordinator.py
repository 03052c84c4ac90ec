"""PhaseCoordinator: builds a job's machine from its phase list, drives it, and resumes it.

The driver loop awaits one trigger at a time; entering a state records the move and
writes the checkpoint, inside the trigger. When the trigger has returned and the job is
in a phase, the loop runs that phase's executor itself, then turns its result into the
next trigger (through the transition handler). Nothing else moves a job. A cancel
(Ctrl-C, `asyncio.timeout`) leaves the run after the checkpoint is written, with the job
still in the phase that was running, so it resumes; a checkpoint that cannot be written
stops the run at once with `CheckpointWriteError`.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.commands import SecretMasker
from mapreduce_fsm.commands.process import running_groups
from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.console.interaction import NonInteractive, UserInteraction
from mapreduce_fsm.console.progress import NullProgress, ProgressReporter
from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.errors import (
    CheckpointWriteError,
    EnvironmentFailure,
    JobStateError,
    MapReduceError,
    describe_os_error,
    is_environment_error,
)
from mapreduce_fsm.phases import machine as fsm
from mapreduce_fsm.phases.context import CheckpointKeeper, PhaseContext, RunOptions
from mapreduce_fsm.phases.durability import (
    check_results_kept,
    count_durable_results,
    end_leftover_groups,
    take_retried_results,
)
from mapreduce_fsm.phases.moves import recorded_move
from mapreduce_fsm.phases.triggers import next_trigger
from mapreduce_fsm.phases.types import (
    DefaultTransitionHandler,
    PhaseExecutor,
    PhaseResult,
    PhaseTransitionHandler,
    completed_result,
    item_phase,
    processes_items,
)
from mapreduce_fsm.phases.types import WorkflowResult as WorkflowResult  # re-exported here
from mapreduce_fsm.phases.types import interrupted_result as interrupted_result
from mapreduce_fsm.state import Checkpoint, JobStore, PhaseProgress, workflow_digest

_END_STATES = (fsm.COMPLETED, fsm.FAILED, fsm.PAUSED)

class _JobModel:
    """The machine's model: `transitions` sets `state` and adds one method per trigger."""

    state: str


@attrs.define
class PhaseCoordinator:
    """Runs an ordered list of phases as a state machine, checkpointing every move.

    >>> import os, tempfile
    >>> from mapreduce_fsm.config import load_workflow_text
    >>> from mapreduce_fsm.phases.registry import build_phases
    >>> os.chdir(tempfile.mkdtemp())
    >>> _ = open("items.json", "w").write('["a", "b"]')
    >>> text = "name: demo\\nmap: {input: items.json, agent_template: [{shell: 'echo ${item}'}]}"
    >>> workflow = load_workflow_text(text)
    >>> store = JobStore.create(Path("state"), "demo-1", text)
    >>> coordinator = PhaseCoordinator(phases=build_phases(workflow), store=store)
    >>> result = asyncio.run(coordinator.execute_workflow(workflow, workflow_text=text))
    >>> result.state
    'completed'
    """

    phases: Sequence[PhaseExecutor]
    store: JobStore
    handler: PhaseTransitionHandler = attrs.field(factory=DefaultTransitionHandler)
    interaction: UserInteraction = attrs.field(factory=NonInteractive)
    options: RunOptions = attrs.field(factory=RunOptions)
    progress_reporter: ProgressReporter = attrs.field(factory=NullProgress)
    secrets: Mapping[str, str] = attrs.field(factory=dict)
    # Per-run state, set afresh at the start of each run or resume.
    _context: PhaseContext | None = None
    _results: dict[str, PhaseResult] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        names = [phase.name for phase in self.phases]
        repeated = {name for name in names if names.count(name) > 1}
        clashes = sorted(repeated | (set(names) & fsm.RESERVED_STATES))
        if clashes:
            raise MapReduceError(f"phase names must be unique and not reserved: {clashes}")
        try:
            item_phase(self.phases)
        except ValueError as error:
            raise MapReduceError(str(error)) from None

    @property
    def item_phase(self) -> str | None:
        """The phase that processes items (the one `retry_items` re-enters), if any."""
        return item_phase(self.phases)

    @property
    def phase_names(self) -> list[str]:
        return [phase.name for phase in self.phases]

    def new_checkpoint(
        self,
        config: Workflow,
        *,
        working_dir: Path,
        workflow_text: str,
        workflow_path: Path | None = None,
    ) -> Checkpoint:
        now = utc_now()
        return Checkpoint(
            job_id=self.store.job_id,
            workflow_name=config.name,
            workflow_digest=workflow_digest(workflow_text),
            workflow_path=None if workflow_path is None else str(workflow_path),
            working_dir=str(working_dir.resolve()),
            state=fsm.PENDING,
            phase_order=tuple(self.phase_names),
            item_phase=self.item_phase,
            created_at=now,
            updated_at=now,
        )

    async def execute_workflow(
        self,
        config: Workflow,
        *,
        working_dir: Path | None = None,
        workflow_text: str = "",
        workflow_path: Path | None = None,
    ) -> WorkflowResult:
        """Start the job from `pending` and run it to an end state."""
        checkpoint = self.new_checkpoint(
            config, working_dir=working_dir or Path.cwd(), workflow_text=workflow_text,
            workflow_path=workflow_path,
        )
        self.store.save_checkpoint(checkpoint)
        self.store.events.emit("job.started", workflow=config.name, phases=self.phase_names)
        return await self._drive(config, checkpoint, fsm.START, {})

    async def resume_from_checkpoint(
        self, checkpoint: Checkpoint, config: Workflow
    ) -> WorkflowResult:
        """Continue a job from whatever state its checkpoint holds."""
        self._check_phase_order(checkpoint)
        state = checkpoint.state
        checkpoint = await self._make_ready(checkpoint)
        if state == fsm.COMPLETED:
            return completed_result(checkpoint.job_id, self.store.results.statuses().values(),
                                    nothing_to_do=True)
        kwargs: dict[str, Any] = {}
        if state == fsm.PENDING:
            trigger = fsm.START
        elif state in (fsm.FAILED, fsm.PAUSED):
            trigger = fsm.RESUME
            kwargs["target"] = checkpoint.resume_phase or self.phase_names[0]
        else:
            trigger = fsm.RESUME  # interrupted inside a phase: re-enter it
        self.store.events.emit("job.resumed", state=state, target=kwargs.get("target", state))
        try:
            return await self._drive(config, checkpoint, trigger, kwargs, resumed_from=state)
        except JobStateError as refusal:  # e.g. the map's input changed
            self._undo_refused(checkpoint, refusal)
            raise

    async def retry_items(
        self, checkpoint: Checkpoint, config: Workflow, item_ids: Collection[str]
    ) -> WorkflowResult:
        """Re-run these items in an ended job's item phase, then every phase after it.

        Their old results leave the results journal, so the item phase (the map, which
        runs exactly the items without a final result) runs them again; the phases after
        it start over so that they see the new results. The job moves by the
        `retry_items` trigger.
        """
        self._check_phase_order(checkpoint)
        items_phase = self.item_phase
        if items_phase is None:
            raise JobStateError(
                f"job {checkpoint.job_id} has no phase that processes items to retry them in"
            )
        if checkpoint.state not in _END_STATES:
            raise JobStateError(
                f"job {checkpoint.job_id} is in state {checkpoint.state!r}, not completed, "
                f"failed or paused; run `mapreduce-fsm resume {checkpoint.job_id}` first"
            )
        checkpoint = await self._make_ready(checkpoint)
        retried = set(item_ids)
        loaded = self.store.results.load().results
        after = self.phase_names[self.phase_names.index(items_phase) + 1:]
        phases = {
            name: PhaseProgress() if name in after else progress
            for name, progress in checkpoint.phases.items()
        }
        # The move into the item phase is saved with the items first; only then do their
        # results leave the journal (`_entered`), so a kill in between leaves a job that
        # a resume finishes retrying, never an ended job whose items have no result.
        retrying = attrs.evolve(checkpoint, phases=phases, retrying_items=tuple(sorted(retried)))
        self.store.events.emit("job.retrying_items", state=checkpoint.state, count=len(retried))
        try:
            return await self._drive(config, retrying, fsm.RETRY_ITEMS, {},
                                     resumed_from=fsm.RETRY_ITEMS)
        except JobStateError as refusal:
            self.store.results.rewrite(loaded.values())  # the retried items' results come back
            self._undo_refused(checkpoint, refusal)
            raise

    async def _make_ready(self, checkpoint: Checkpoint) -> Checkpoint:
        """Before a resume or retry runs anything: end a killed runner's leftover steps, and
        check that no result counted in the checkpoint is lost (the checkpoint to use)."""
        await end_leftover_groups(self.store, self.interaction, self.options.kill_grace_secs)
        return check_results_kept(self.store, checkpoint, force=self.options.force,
                                  interaction=self.interaction)

    def _undo_refused(self, checkpoint: Checkpoint, refusal: JobStateError) -> None:
        """A phase refused to go on (its input changed): put the job back as it was.

        The move into the phase was already checkpointed; left so, `status` would show
        a running phase of a job that nothing runs.
        """
        self.store.save_checkpoint(checkpoint)
        self.store.events.emit("job.resume_refused", state=checkpoint.state, reason=str(refusal))

    def _check_phase_order(self, checkpoint: Checkpoint) -> None:
        """The checkpoint fits this machine: same phases, a state and resume phase it has."""
        if list(checkpoint.phase_order) != self.phase_names:
            raise JobStateError(
                f"job {checkpoint.job_id} ran the phases {list(checkpoint.phase_order)}, "
                f"but this workflow has {self.phase_names}; resume it with the same phases"
            )
        fsm.check_machine_state(checkpoint, self.store.checkpoint_path)

    async def _drive(
        self,
        config: Workflow,
        checkpoint: Checkpoint,
        trigger: str,
        kwargs: dict[str, Any],
        *,
        resumed_from: str | None = None,
    ) -> WorkflowResult:
        """The driver loop: move by a trigger, run the phase entered, repeat to an end state."""
        if checkpoint.item_phase != self.item_phase:  # an older checkpoint lacks it
            checkpoint = attrs.evolve(checkpoint, item_phase=self.item_phase)
        context = PhaseContext(
            workflow=config,
            store=self.store,
            keeper=CheckpointKeeper(store=self.store, checkpoint=checkpoint,
                                    masker=SecretMasker(tuple(self.secrets.values()))),
            interaction=self.interaction,
            secrets=self.secrets,
            options=self.options,
            progress_reporter=self.progress_reporter,
            resumed_from=resumed_from,
        )
        self._context, self._results = context, {}
        model = _JobModel()
        fsm.build_machine(model, self.phase_names, initial=checkpoint.state,
                          item_phase=self.item_phase, on_enter_state=self._entered)
        task = asyncio.current_task()
        cancels_before = task.cancelling() if task is not None else 0
        recording = running_groups.set(self.store.processes)
        try:
            while True:
                await getattr(model, trigger)(**kwargs)
                # `transitions` swallows a CancelledError that lands inside a trigger.
                if task is not None and task.cancelling() > cancels_before:
                    raise asyncio.CancelledError
                if model.state in _END_STATES:
                    break
                result = await self._run_phase(model.state, context)
                trigger, kwargs = next_trigger(self.handler, result)
        except asyncio.CancelledError:
            state = context.keeper.checkpoint.state
            context.emit("job.interrupted", phase=state if state in self.phase_names else None)
            raise
        finally:
            running_groups.reset(recording)
            context.store.results.sync()
        error = None
        if model.state == fsm.FAILED:
            checkpoint = context.keeper.checkpoint
            error = checkpoint.phases[checkpoint.resume_phase or ""].error
        self.store.events.emit(f"job.{model.state}", error=error)
        if model.state == fsm.COMPLETED:
            # Counted from the statuses alone: 100,000 whole results would cost a second.
            return completed_result(self.store.job_id, self.store.results.statuses().values(),
                                    phase_results=dict(self._results))
        return WorkflowResult(
            job_id=self.store.job_id, state=model.state, phase_results=dict(self._results),
            error=error,
        )

    async def _entered(self, event: Any) -> None:
        """Record a move: the history, the phase statuses, the state; then save."""
        assert self._context is not None
        keeper = self._context.keeper
        trigger, source, dest = event.event.name, event.transition.source, event.state.name
        reason = event.kwargs.get("reason")
        move = recorded_move(keeper.checkpoint, self.phase_names, trigger=trigger,
                             source=source, dest=dest, reason=reason, at=utc_now())
        try:
            self.store.results.sync()
            durable = self.store.results.durable_count
            keeper.update(
                durable_results=keeper.checkpoint.durable_results if durable is None else durable,
                **move,
            )
        except (OSError, EnvironmentFailure) as error:
            reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
            raise CheckpointWriteError(
                f"cannot save the checkpoint {self.store.checkpoint_path} of job "
                f"{self.store.job_id} ({reason}); the run stopped, and the "
                f"job stays as it was last saved: free the space or fix the permissions, "
                f"then resume it"
            ) from error
        self.store.events.emit("transition", trigger=trigger, source=source, dest=dest,
                               reason=reason)
        if keeper.checkpoint.retrying_items and dest == self.item_phase:
            take_retried_results(self.store, keeper)
            self._context.forget_map_results()

    async def _run_phase(self, name: str, context: PhaseContext) -> PhaseResult:
        """Run the executor of the phase just entered; a cancel leaves from here as it is."""
        executor = next(phase for phase in self.phases if phase.name == name)
        counting = (asyncio.create_task(count_durable_results(self.store, context.keeper))
                    if processes_items(executor) else None)
        try:
            result = await self._execute(executor, context)
        except (JobStateError, EnvironmentFailure):
            raise  # the input changed, the disk is full: stop, leaving the job resumable
        except MapReduceError as error:
            result = PhaseResult.failed(name, str(error))
        except OSError as error:  # the job directory or the disk: not a bug, say what
            if is_environment_error(error):
                raise EnvironmentFailure(describe_os_error(error)) from error
            result = PhaseResult.failed(name, describe_os_error(error))
        except Exception as error:  # an executor's bug must not lose the job
            context.emit("phase.crashed", phase=name, traceback=traceback.format_exc())
            result = PhaseResult.failed(name, f"internal error: {type(error).__name__}: {error}")
        finally:
            if counting is not None:
                counting.cancel()
        self._results[name] = result
        metrics = result.metrics
        counts = {"items_processed": metrics.items_processed,
                  "items_successful": metrics.items_successful,
                  "items_failed": metrics.items_failed} if processes_items(executor) else {}
        context.emit(f"phase.{result.outcome}", phase=name, error=result.error,
                     reason=result.data.get("reason"),
                     duration_secs=round(metrics.duration_secs, 3), **counts)
        return result

    async def _execute(self, executor: PhaseExecutor, context: PhaseContext) -> PhaseResult:
        name = executor.name
        if not self.handler.should_execute(name, context):
            return PhaseResult.skipped(name, "the transition handler skipped it")
        reason = executor.can_skip(context)
        if reason:
            return PhaseResult.skipped(name, reason)
        context.emit("phase.started", phase=name)
        return await executor.execute(context)
