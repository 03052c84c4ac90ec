"""What running one step produced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

StepStatus = Literal["success", "failed", "timeout", "skipped"]


@attrs.frozen(kw_only=True)
class StepResult:
    """The outcome of one step, after its `on_failure` / `on_success` handlers ran.

    `status` is the step's own status (a recovered failure keeps "failed" and sets
    `recovered`). `ok` says whether the sequence may go on.
    """

    step: str  # the step's label
    status: StepStatus
    exit_code: int | None = None
    stdout: str = ""  # secrets masked, capped at max_output_bytes
    stderr: str = ""
    duration_secs: float = 0.0
    captures: Mapping[str, Any] = attrs.field(factory=dict)  # variables this step set
    error: str | None = None  # one line, secrets masked
    recovered: bool = False  # failed, and its on_failure handled it
    fail_workflow: bool = False  # on_failure demanded the whole job fail
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        return (self.status in ("success", "skipped") or self.recovered) and not self.fail_workflow
