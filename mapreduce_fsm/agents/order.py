"""The data a backend exchanges: a work order for one item attempt, and the item's outcome.

Both are plain values that `convert.converter` turns into JSON and back unchanged, so a
backend may run an order in another process or on another machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from mapreduce_fsm.config.model import Step
from mapreduce_fsm.convert import compact_json
from mapreduce_fsm.state.logs import StepOutput
from mapreduce_fsm.state.records import ItemResult

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

    def env(self) -> dict[str, str]:
        """What every step's process gets on top of the environment where the order runs."""
        return {
            **self.spec.env,
            "ITEM_JSON": self.item_json(),
            "ITEM_INDEX": str(self.item_index),
            "ITEM_ID": self.item_id,
        }


@attrs.frozen(kw_only=True)
class ItemOutcome:
    """An item's result plus what the dead-letter queue wants to keep of a failure."""

    result: ItemResult
    stderr_tail: str = ""
    fail_workflow: bool = False  # the failed step's on_failure says: fail the whole job
    # Each step's stdout and stderr, capped, for the job's logs (written by the runner).
    step_outputs: tuple[StepOutput, ...] = ()
