"""Stateful property test: random phases, outcomes, handlers, runs and resumes, move by move.

The oracle is written here, independently of `machine.transition_table`: `allowed_move`
says which (trigger, source, dest) a job may take, and `predict` says, from the phase
list, the scripted outcomes and the handler, exactly which moves a run must make and
which phases' executors it must call.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mapreduce_fsm.phases import (
    Complete,
    Continue,
    DefaultTransitionHandler,
    Error,
    PhaseContext,
    PhaseCoordinator,
    PhaseError,
    PhaseTransition,
    Skip,
)
from mapreduce_fsm.phases.coordinator import WorkflowResult, interrupted_result
from mapreduce_fsm.state import Checkpoint, JobStore
from tests.phases.harness import MINIMAL_WORKFLOW, ScriptedPhase, minimal_workflow

OUTCOMES = ("completed", "skipped", "failed", "paused", "finish")
END_STATES = ("completed", "failed", "paused")
EXIT_CODES = {"completed": 0, "failed": 1, "paused": 3}

Move = tuple[str, str, str]


def allowed_move(move: Move, phases: Sequence[str]) -> bool:
    """The oracle: may a job whose phases run in this order make this move?"""
    trigger, source, dest = move
    after = {name: (phases[i + 1] if i + 1 < len(phases) else "completed")
             for i, name in enumerate(phases)}
    if trigger == "start":
        return source == "pending" and dest == phases[0]
    if source not in phases:
        return trigger == "resume" and source in ("failed", "paused") and dest in phases
    return {
        "continue_": dest == after[source],
        "skip": dest == after[source],
        "complete": dest == "completed",
        "error": dest == "failed",
        "pause": dest == "paused",
        "resume": dest == source,
    }.get(trigger, False)


@attrs.define
class Steering(DefaultTransitionHandler):
    """A handler override: a fixed answer to phase errors, and phases it will not execute."""

    on_error: str  # error, skip, continue, complete
    not_executed: frozenset[str]

    def should_execute(self, phase: str, context: PhaseContext) -> bool:
        return phase not in self.not_executed

    def on_phase_error(self, phase: str, error: PhaseError) -> PhaseTransition:
        decisions: dict[str, PhaseTransition] = {
            "error": Error(error=error),
            "skip": Skip(phase=phase, reason="handler skipped it"),
            "continue": Continue(),
            "complete": Complete(),
        }
        return decisions[self.on_error]


@attrs.frozen
class Prediction:
    moves: list[Move]
    runs: dict[str, int]  # executor calls per phase
    blocked: bool  # the run stopped inside the blocked phase's executor


def predict(
    phases: Sequence[ScriptedPhase],
    handler: Steering,
    state: str,
    resume_phase: str | None,
    block: str | None,
) -> Prediction:
    """The moves one drive of the coordinator makes from `state`, by the documented rules."""
    names = [phase.name for phase in phases]
    outcomes = {phase.name: list(phase.outcomes) for phase in phases}
    skipping = {phase.name: phase.skip_reason is not None for phase in phases}
    runs = dict.fromkeys(names, 0)
    moves: list[Move] = []
    if state == "completed":
        return Prediction(moves=moves, runs=runs, blocked=False)  # nothing to do
    if state == "pending":
        moves.append(("start", "pending", names[0]))
    elif state in ("failed", "paused"):
        assert resume_phase is not None
        moves.append(("resume", state, resume_phase))
    else:
        moves.append(("resume", state, state))
    while moves[-1][2] in names:
        phase = moves[-1][2]
        following = names[names.index(phase) + 1] if phase != names[-1] else "completed"
        if phase in handler.not_executed or skipping[phase]:
            outcome = "skipped"
        else:
            runs[phase] += 1
            if phase == block:
                return Prediction(moves=moves, runs=runs, blocked=True)
            outcome = outcomes[phase].pop(0) if outcomes[phase] else "completed"
        if outcome == "failed":
            outcome = {"error": "error", "skip": "skipped", "continue": "completed",
                       "complete": "finish"}[handler.on_error]
        moves.append({
            "completed": ("continue_", phase, following),
            "skipped": ("skip", phase, following),
            "finish": ("complete", phase, "completed"),
            "paused": ("pause", phase, "paused"),
            "error": ("error", phase, "failed"),
        }[outcome])
    return Prediction(moves=moves, runs=runs, blocked=False)


phase_names = st.lists(
    st.sampled_from(["setup", "map", "reduce", "verify", "lint", "publish", "x-1"]),
    min_size=1, max_size=4, unique=True,
)
outcome_lists = st.lists(st.sampled_from(OUTCOMES), max_size=3)


class CoordinatorMachine(RuleBasedStateMachine):
    """One job at a time: run it fresh, resume it, interrupt it; every move is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="stateful-coordinator-"))
        self.jobs = 0
        self.phases: list[ScriptedPhase] = []
        self.handler = Steering(on_error="error", not_executed=frozenset())
        self.store: JobStore | None = None
        self.result: WorkflowResult | None = None
        self.interrupted = False  # the last drive was cancelled: CancelledError left it

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @initialize(
        names=phase_names,
        on_error=st.sampled_from(["error", "skip", "continue", "complete"]),
        data=st.data(),
    )
    def choose_phases(self, names: list[str], on_error: str, data: st.DataObject) -> None:
        not_executed = data.draw(st.frozensets(st.sampled_from(names)), label="not_executed")
        can_skip = data.draw(st.frozensets(st.sampled_from(names)), label="can_skip")
        self.handler = Steering(on_error=on_error, not_executed=not_executed)
        self.phases = [
            ScriptedPhase(name, skip_reason="nothing here" if name in can_skip else None)
            for name in names
        ]

    @property
    def names(self) -> list[str]:
        return [phase.name for phase in self.phases]

    def checkpoint(self) -> Checkpoint:
        assert self.store is not None
        checkpoint = self.store.load_checkpoint()
        assert checkpoint is not None
        return checkpoint

    def script(self, data: st.DataObject) -> None:
        for phase in self.phases:
            phase.outcomes = data.draw(outcome_lists, label=f"outcomes of {phase.name}")

    def drive(self, block: str | None, fresh: bool) -> None:
        """Run or resume the job (cancelling it inside `block`'s executor); check the moves."""
        if fresh:
            self.jobs += 1
            self.store = JobStore.create(self.root, f"job-{self.jobs}", MINIMAL_WORKFLOW)
            before: Checkpoint | None = None
            state, resume_phase = "pending", None
        else:
            before = self.checkpoint()
            state, resume_phase = before.state, before.resume_phase
        assert self.store is not None
        expected = predict(self.phases, self.handler, state, resume_phase, block)
        runs_before = {phase.name: phase.runs for phase in self.phases}
        coordinator = PhaseCoordinator(phases=self.phases, store=self.store, handler=self.handler)
        blocked_phase = next((p for p in self.phases if p.name == block), None)
        for phase in self.phases:
            phase.block = asyncio.Event() if phase is blocked_phase else None

        async def go() -> WorkflowResult | None:
            if before is None:
                task = asyncio.create_task(
                    coordinator.execute_workflow(minimal_workflow(), working_dir=self.root))
            else:
                task = asyncio.create_task(
                    coordinator.resume_from_checkpoint(before, minimal_workflow()))
            if blocked_phase is not None:
                started = blocked_phase.runs
                while not task.done() and blocked_phase.runs == started:
                    await asyncio.sleep(0)
                task.cancel()
            try:
                return await task
            except asyncio.CancelledError:
                return None

        self.result = asyncio.run(go())
        self.interrupted = self.result is None
        for phase in self.phases:
            phase.block = None
        after = self.checkpoint()
        new_moves = [(t.trigger, t.source, t.dest) for t in after.history]
        new_moves = new_moves[len(before.history) if before else 0:]
        assert new_moves == expected.moves
        assert {p.name: p.runs - runs_before[p.name] for p in self.phases} == expected.runs
        assert self.interrupted == expected.blocked
        if before is not None and before.state in ("failed", "paused"):
            # A resume re-enters the phase that failed or paused.
            assert new_moves[0] == ("resume", before.state, before.history[-1].source)

    @rule(data=st.data())
    def run_fresh_job(self, data: st.DataObject) -> None:
        self.script(data)
        self.drive(block=None, fresh=True)

    @rule(data=st.data(), block=st.integers(min_value=0, max_value=3))
    def run_fresh_job_and_interrupt_it(self, data: st.DataObject, block: int) -> None:
        self.script(data)
        self.drive(block=self.names[block % len(self.names)], fresh=True)

    @precondition(lambda self: self.store is not None)
    @rule(data=st.data())
    def resume_job(self, data: st.DataObject) -> None:
        self.script(data)
        before = self.checkpoint()
        self.drive(block=None, fresh=False)
        if before.state == "completed":
            assert self.result is not None and self.result.nothing_to_do
            assert self.checkpoint().history == before.history

    @precondition(lambda self: self.store is not None)
    @rule(data=st.data(), block=st.integers(min_value=0, max_value=3))
    def resume_job_and_interrupt_it(self, data: st.DataObject, block: int) -> None:
        self.script(data)
        self.drive(block=self.names[block % len(self.names)], fresh=False)

    @invariant()
    def every_move_is_allowed_and_the_history_is_one_path(self) -> None:
        if self.store is None:
            return
        history = self.checkpoint().history
        moves = [(t.trigger, t.source, t.dest) for t in history]
        for move in moves:
            assert allowed_move(move, self.names), move
        assert moves[0][1] == "pending"
        for previous, move in itertools.pairwise(moves):
            assert move[1] == previous[2], (previous, move)

    @invariant()
    def the_result_agrees_with_the_checkpoint(self) -> None:
        if self.interrupted:
            checkpoint = self.checkpoint()
            assert checkpoint.state in self.names
            assert checkpoint.phases[checkpoint.state].status == "running"
            assert self.store is not None and interrupted_result(self.store).exit_code == 130
            return
        if self.result is None:
            return
        checkpoint = self.checkpoint()
        assert self.result.state == checkpoint.state and not self.result.interrupted
        assert checkpoint.state in END_STATES
        assert self.result.exit_code == EXIT_CODES[checkpoint.state]
        if checkpoint.state in ("failed", "paused"):
            stopped = checkpoint.history[-1].source
            assert checkpoint.resume_phase == stopped
            assert checkpoint.phases[stopped].status == checkpoint.state
        if checkpoint.state == "failed":
            assert self.result.error == f"{checkpoint.resume_phase} broke"

    @invariant()
    def a_completed_pass_went_through_each_phase_once(self) -> None:
        if self.store is None or self.checkpoint().state != "completed":
            return
        history = self.checkpoint().history
        entry = max(i for i, t in enumerate(history) if t.trigger in ("start", "resume"))
        visited = [t.dest for t in history[entry:] if t.dest in self.names]
        assert len(visited) == len(set(visited))
        first = self.names.index(history[entry].dest)
        if history[-1].trigger != "complete":
            assert visited == self.names[first:]
        phases = self.checkpoint().phases
        for name in visited:
            assert phases[name].status in ("completed", "skipped"), (name, phases[name])


CoordinatorMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=10, deadline=None
)
TestCoordinatorMachine = CoordinatorMachine.TestCase
