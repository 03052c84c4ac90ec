"""The reduce phase: ask when the map had failures, then run the reduce steps over the results."""

from __future__ import annotations

import time
from pathlib import Path

import attrs

from mapreduce_fsm.commands import interpolate_json_literals
from mapreduce_fsm.config.model import ReduceConfig
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.steps import run_phase_steps, steps_result
from mapreduce_fsm.phases.summary import MapSummary, write_results_file
from mapreduce_fsm.phases.types import PhaseResult
from mapreduce_fsm.workitems import compile_expression


@attrs.frozen(kw_only=True)
class ReducePhase:
    config: ReduceConfig | None
    name: str = "reduce"

    def can_skip(self, context: PhaseContext) -> str | None:
        if self.config is None or not self.config.commands:
            return "no reduce steps"
        if self.config.when is not None:
            results = context.map_results()
            map_variables = MapSummary.of(results).variables(results, self.results_file(context))
            root = {**context.base_variables(), "map": map_variables}
            # Like a step's `when`: `${...}` references become JSON literals first.
            text = interpolate_json_literals(self.config.when, root, where="reduce.when")
            if not compile_expression(text).matches(root):
                return f"reduce.when {self.config.when!r} is false"
        return None

    def results_file(self, context: PhaseContext) -> Path:
        return context.store.path / "map_results.json"

    async def execute(self, context: PhaseContext) -> PhaseResult:
        assert self.config is not None
        started = time.monotonic()
        results = context.map_results()
        summary = MapSummary.of(results)
        first_run = context.progress(self.name).next_step == 0
        if first_run and not await self.confirmed(context, summary):
            return PhaseResult.paused(self.name, "the user declined to reduce over partial results")
        results_file = write_results_file(self.results_file(context), results)
        variables = {**context.base_variables(), "map": summary.variables(results, results_file)}
        outcome = await run_phase_steps(
            context, self.name, self.config.commands, variables, extra_env=summary.env(results_file)
        )
        return steps_result(self.name, outcome, started)

    async def confirmed(self, context: PhaseContext, summary: MapSummary) -> bool:
        """docs/workflow-format.md section 5: ask before reducing over partial results."""
        confirm = self.config.confirm if self.config else "never"
        if confirm == "never" or (confirm == "on_failure" and summary.failed == 0):
            return True
        question = (
            f"{summary.failed} of {summary.total} items failed. "
            f"Reduce over the {summary.successful} successful results?"
            if summary.failed
            else f"Run reduce over {summary.total} results?"
        )
        # Awaited: Ctrl-C during the question cancels the run and records no answer.
        answer = await context.interaction.ask_yes_no(question, default=True)
        context.emit("reduce.confirmation", phase=self.name, question=question, answer=answer)
        return answer
