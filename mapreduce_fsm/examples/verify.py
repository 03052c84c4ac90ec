"""An example custom phase, `verify`: checks the job's results after reduce.

```yaml
custom_phases:
  - type: verify
    after: reduce
    options:
      min_success_rate: 90        # percent of items that must have succeeded
      checks:                     # shell commands; each must exit 0
        - "test -s out/summary.txt"
```

It shows everything a custom phase gets for free: its own state in the machine and
the diagram, a checkpoint after every check (a resume continues at the next check),
and the shared variables (`${map.*}` here too).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from mapreduce_fsm.config.model import CustomPhaseConfig, Step, Workflow
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.registry import register_phase
from mapreduce_fsm.phases.steps import run_phase_steps, steps_result
from mapreduce_fsm.phases.summary import MapSummary, write_results_file
from mapreduce_fsm.phases.types import PhaseResult


def _checks(options: Mapping[str, Any]) -> tuple[Step, ...]:
    raw = options.get("checks", [])
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not all(
        isinstance(check, str) for check in raw
    ):
        raise ValueError("verify: options.checks must be a list of shell commands")
    return tuple(Step(shell=check, name=f"check {i + 1}") for i, check in enumerate(raw))


@register_phase("verify")
@attrs.frozen(kw_only=True)
class VerifyPhase:
    """Fails the job when too few items succeeded or a check command fails."""

    name: str = "verify"
    min_success_rate: float = 0.0
    checks: tuple[Step, ...] = ()

    @classmethod
    def from_config(cls, workflow: Workflow, config: CustomPhaseConfig) -> VerifyPhase:
        options = config.options
        rate = options.get("min_success_rate", 0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 100:
            raise ValueError("verify: options.min_success_rate must be a number from 0 to 100")
        unknown = set(options) - {"min_success_rate", "checks"}
        if unknown:
            raise ValueError(f"verify: unknown options {sorted(unknown)}")
        return cls(name=config.name, min_success_rate=float(rate), checks=_checks(options))

    def can_skip(self, context: PhaseContext) -> str | None:
        return None

    async def execute(self, context: PhaseContext) -> PhaseResult:
        started = time.monotonic()
        results = context.map_results()
        summary = MapSummary.of(results)
        if summary.total and summary.success_rate < self.min_success_rate:
            return PhaseResult.failed(
                self.name,
                f"success rate {summary.success_rate}% is below min_success_rate "
                f"{self.min_success_rate}% ({summary.successful} of {summary.total} items)",
            )
        # The same `${map.*}` and MAP_* as reduce, even when reduce wrote no results file.
        results_file = write_results_file(context.store.path / "map_results.json", results)
        variables = {**context.base_variables(), "map": summary.variables(results, results_file)}
        outcome = await run_phase_steps(
            context, self.name, self.checks, variables, extra_env=summary.env(results_file)
        )
        return steps_result(self.name, outcome, started, success_rate=summary.success_rate)
