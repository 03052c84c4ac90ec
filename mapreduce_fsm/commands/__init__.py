"""Running steps (`shell`, `claude`, `write_file`) with interpolation, captures and handlers.

>>> import asyncio
>>> from pathlib import Path
>>> from mapreduce_fsm.config.model import Step
>>> steps = [Step(shell="echo ${item}")]
>>> outcome = asyncio.run(run_steps(steps, {"item": "hi"}, StepContext(cwd=Path("."))))
>>> outcome.ok, outcome.variables["shell"]["output"]
(True, 'hi')
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
