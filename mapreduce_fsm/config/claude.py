"""The Claude Code command line (`$MAPREDUCE_FSM_CLAUDE`, else `claude`) and why it cannot run."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping

CLAUDE_COMMAND_VARIABLE = "MAPREDUCE_FSM_CLAUDE"
DEFAULT_CLAUDE_COMMAND: tuple[str, ...] = ("claude",)


def resolve_claude_command(environ: Mapping[str, str]) -> tuple[str, ...]:
    """`$MAPREDUCE_FSM_CLAUDE` shell-split if set, else `claude`.

    Raises ValueError when the variable is not a valid shell command line.

    >>> resolve_claude_command({"MAPREDUCE_FSM_CLAUDE": "my-claude -p"})
    ('my-claude', '-p')
    """
    configured = environ.get(CLAUDE_COMMAND_VARIABLE, "").strip()
    if not configured:
        return DEFAULT_CLAUDE_COMMAND
    return tuple(shlex.split(configured)) or DEFAULT_CLAUDE_COMMAND


def claude_problem(environ: Mapping[str, str]) -> str | None:
    """Why a claude step could not run with `environ`, or None when its program is on PATH."""
    try:
        program = resolve_claude_command(environ)[0]
    except ValueError as error:
        return f"{CLAUDE_COMMAND_VARIABLE} is not a valid command line ({error})"
    if shutil.which(program, path=environ.get("PATH", "")) is not None:
        return None
    if environ.get(CLAUDE_COMMAND_VARIABLE, "").strip():
        return (f"a claude step needs the Claude Code program, but {CLAUDE_COMMAND_VARIABLE} "
                f"names {program!r}, which is not found on PATH; fix {CLAUDE_COMMAND_VARIABLE}")
    return ("a claude step needs the Claude Code program, but 'claude' is not on PATH; "
            f"install Claude Code or set {CLAUDE_COMMAND_VARIABLE} to the command that runs it")
