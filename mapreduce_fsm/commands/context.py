"""What every step of a phase shares: working directory, environment, secrets, deadline."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from mapreduce_fsm.commands.masking import SecretMasker
from mapreduce_fsm.commands.output_lines import OutputLineCallback
from mapreduce_fsm.config.claude import (
    CLAUDE_COMMAND_VARIABLE,
    claude_flags,
    resolve_claude_command,
)

__all__ = ["CLAUDE_COMMAND_VARIABLE", "StepContext", "resolve_claude_command"]


def environ_snapshot() -> dict[bytes, bytes]:
    """A copy of os.environ as bytes, as `dict(os.environb)` gives it.

    The map makes a context per item: `dict(os.environb)` encodes and checks every entry
    in Python (15 to 40 microseconds, a few percent of a trivial item), where a copy of
    the dict behind it (CPython's `os.environb._data`, the same bytes) is done in C.
    """
    data = getattr(os.environb, "_data", None)
    if type(data) is dict:
        return dict(data)
    return dict(os.environb)


@attrs.frozen(kw_only=True)
class StepContext:
    """The setting steps run in; the phases build one per phase (map: one per item).

    >>> import time
    >>> context = StepContext(cwd=Path("."), env={"JOB_ID": "j1"}, deadline=time.monotonic() + 300)
    >>> context.env["JOB_ID"], context.deadline > time.monotonic()
    ('j1', True)
    """

    cwd: Path  # default working directory
    env: Mapping[str, str] = attrs.field(factory=dict)  # on top of os.environ for every process
    masker: SecretMasker = attrs.field(factory=lambda: SecretMasker(()))
    deadline: float | None = None  # time.monotonic() deadline shared by all steps
    deadline_name: str = "the time limit"  # what a timeout by the deadline says it hit
    kill_grace_secs: float = 2.0  # SIGTERM -> SIGKILL grace
    claude_command: tuple[str, ...] | None = None  # None: $MAPREDUCE_FSM_CLAUDE, else "claude"
    # Gets each line a step's program prints, masked, while it runs (`output_lines`); the
    # phases that show output set it per step (`run_steps(output_of_step=...)`), the map not.
    on_output_line: OutputLineCallback | None = None
    # os.environ as it was when the phase made this context (evolve() keeps it), as bytes:
    # copying and re-encoding all of os.environ for every process was a good part of a
    # trivial map item's cost.
    _base_environ: Mapping[bytes, bytes] = attrs.field(factory=lambda: environ_snapshot())

    def process_env(self, step_env: Mapping[str, str]) -> dict[bytes, bytes]:
        """os.environ, then the context's env, then the step's own (already interpolated) env."""
        environ = dict(self._base_environ)
        for name, value in (*self.env.items(), *step_env.items()):
            environ[os.fsencode(name)] = os.fsencode(value)
        return environ

    def show_notes(self, notes: Sequence[str]) -> None:
        """Give the engine's notes on a step (`[on_failure ...]`, `[validate ...]`, added to
        the end of its stderr) to `on_output_line` as stderr lines, masked, as they are made."""
        if self.on_output_line is not None:
            for note in notes:
                for line in note.splitlines():
                    self.on_output_line("stderr", self.masker.mask(line))

    def claude_flags(self) -> tuple[str, ...]:
        """What follows `--print`: `$MAPREDUCE_FSM_CLAUDE_ARGS` if set, else Prodigy's flag."""
        return claude_flags({**os.environ, **self.env})

    def resolved_claude_command(self) -> tuple[str, ...]:
        """`claude_command`, else `config.claude.resolve_claude_command` of the environment."""
        if self.claude_command is not None:
            return self.claude_command
        environ = {**os.environ, **self.env}
        try:
            return resolve_claude_command(environ)
        except ValueError:  # validation reports it; here it is a program that is not found
            return (environ[CLAUDE_COMMAND_VARIABLE].strip(),)
