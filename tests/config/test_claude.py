"""One resolver for the Claude Code command: what validation checks is what a step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapreduce_fsm.commands import StepContext
from mapreduce_fsm.config.claude import claude_problem, resolve_claude_command


def test_the_variable_is_shell_split_and_claude_is_the_default() -> None:
    assert resolve_claude_command({}) == ("claude",)
    assert resolve_claude_command({"MAPREDUCE_FSM_CLAUDE": "  "}) == ("claude",)
    assert resolve_claude_command({"MAPREDUCE_FSM_CLAUDE": "'my claude' -p"}) == ("my claude", "-p")


def test_a_command_line_that_does_not_split_is_a_problem_not_a_crash() -> None:
    with pytest.raises(ValueError, match="quotation"):
        resolve_claude_command({"MAPREDUCE_FSM_CLAUDE": "claude 'unclosed"})
    assert claude_problem({"MAPREDUCE_FSM_CLAUDE": "claude 'unclosed", "PATH": ""}) == (
        "MAPREDUCE_FSM_CLAUDE is not a valid command line (No closing quotation)")


def test_validation_finds_the_program_a_step_would_run(tmp_path: Path) -> None:
    program = tmp_path / "my-claude"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    environ = {"MAPREDUCE_FSM_CLAUDE": "my-claude --fast", "PATH": str(tmp_path)}
    assert claude_problem(environ) is None
    context = StepContext(cwd=tmp_path, env={"MAPREDUCE_FSM_CLAUDE": "my-claude --fast"})
    assert context.resolved_claude_command() == ("my-claude", "--fast")
    assert "not found on PATH" in (claude_problem({**environ, "PATH": "/nonexistent"}) or "")


def test_a_step_given_a_command_line_that_does_not_split_runs_it_as_one_program(
    tmp_path: Path,
) -> None:
    context = StepContext(cwd=tmp_path, env={"MAPREDUCE_FSM_CLAUDE": " claude 'unclosed "})
    assert context.resolved_claude_command() == ("claude 'unclosed",)
