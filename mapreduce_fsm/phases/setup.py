"""The setup phase: run the setup steps once and keep what they capture for later phases."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs

from mapreduce_fsm.commands.output_capture import extract_capture
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import SetupConfig
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.steps import made_variables, run_phase_steps, steps_result
from mapreduce_fsm.phases.types import PhaseResult


@attrs.frozen(kw_only=True)
class SetupPhase:
    config: SetupConfig | None
    name: str = "setup"

    def can_skip(self, context: PhaseContext) -> str | None:
        return None if self.config and self.config.commands else "no setup steps"

    async def execute(self, context: PhaseContext) -> PhaseResult:
        assert self.config is not None
        started = time.monotonic()
        captures: dict[str, Any] = dict(context.progress(self.name).data.get("captures", {}))

        def capture(index: int, result: StepResult) -> Mapping[str, Any]:
            for name, spec in self.config.capture_outputs.items():  # type: ignore[union-attr]
                if spec.command_index == index:
                    captures[name] = extract_capture(spec, result)
            return {"captures": dict(captures)}

        variables = context.base_variables()
        outcome = await run_phase_steps(
            context, self.name, self.config.commands, variables,
            timeout=self.config.timeout, on_step=capture,
        )
        if outcome.ok:
            named = {
                name: value
                for name, value in made_variables(outcome.variables, variables).items()
                if name not in ("shell", "last")
            }
            context.set_variables({**context.variables, **named, **captures})
        return steps_result(self.name, outcome, started, captures=captures)
