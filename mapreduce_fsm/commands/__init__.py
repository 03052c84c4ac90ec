"""Running steps (`shell`, `claude`, `write_file`) with interpolation, captures and handlers.

>>> outcome = await run_steps(workflow.map.agent_template, {"item": item}, StepContext(cwd=cwd))
>>> outcome.ok, outcome.variables["shell"]["output"]
"""

from mapreduce_fsm.commands.context import StepContext, resolve_claude_command
from mapreduce_fsm.commands.masking import SecretMasker
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.commands.runner import StepsOutcome, run_step, run_steps
from mapreduce_fsm.expressions.interpolate import (
    KNOWN_FILTERS,
    KNOWN_NAMESPACES,
    Reference,
    find_references,
    interpolate,
    interpolate_json_literals,
    lookup,
    render_value,
)

__all__ = [
    "KNOWN_FILTERS",
    "KNOWN_NAMESPACES",
    "Reference",
    "SecretMasker",
    "StepContext",
    "StepResult",
    "StepsOutcome",
    "find_references",
    "interpolate",
    "interpolate_json_literals",
    "lookup",
    "render_value",
    "resolve_claude_command",
    "run_step",
    "run_steps",
]
