"""The Claude Code command line (`$MAPREDUCE_FSM_CLAUDE`, else `claude`) and why it cannot run."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping

CLAUDE_COMMAND_VARIABLE = "MAPREDUCE_FSM_CLAUDE"
CLAUDE_ARGS_VARIABLE = "MAPREDUCE_FSM_CLAUDE_ARGS"
DEFAULT_CLAUDE_COMMAND: tuple[str, ...] = ("claude",)
# As Prodigy calls Claude Code: a headless agent that may edit files and commit.
DEFAULT_CLAUDE_FLAGS: tuple[str, ...] = ("--dangerously-skip-permissions",)


def claude_flags(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The flags between `--print` and the prompt: `$MAPREDUCE_FSM_CLAUDE_ARGS` or the default.

    Set the variable to narrow what the agent may do, for example
    `--allowedTools "Edit Bash(git commit:*)"`; an empty value passes no flag at all.

    >>> claude_flags({})
    ('--dangerously-skip-permissions',)
    >>> claude_flags({"MAPREDUCE_FSM_CLAUDE_ARGS": "--allowedTools 'Edit Read'"})
    ('--allowedTools', 'Edit Read')
    """
    configured = environ.get(CLAUDE_ARGS_VARIABLE)
    if configured is None:
        return DEFAULT_CLAUDE_FLAGS
    try:
        return tuple(shlex.split(configured))
    except ValueError:
        return (configured,)


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
