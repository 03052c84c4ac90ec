"""Every bad workflow file reports exactly the expected issues, with file, line and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow, load_workflow_text
from mapreduce_fsm.errors import WorkflowFileError
from tests.config.bad_cases import BAD_CASES

NO_CLAUDE = {"PATH": "/nonexistent"}


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BAD_CASES],
                         ids=[case[0] for case in BAD_CASES])
def test_bad_file_reports_every_issue_exactly(text: str, expected: list[str]) -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    assert [str(issue) for issue in caught.value.issues] == expected
    assert str(caught.value) == "\n".join(expected)


def test_there_are_at_least_35_bad_cases() -> None:
    assert len({name for name, _, _ in BAD_CASES}) == len(BAD_CASES) >= 35


def test_file_name_in_messages_is_the_path_given(tmp_path: Path) -> None:
    path = tmp_path / "items.yml"
    path.write_text("name: wf\nmap:\n  input: x\n  max_parallel: ten\n"
                    "  agent_template: [{shell: a}]\n")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(path, environ=NO_CLAUDE)
    assert str(caught.value) == f'{path}:4 map.max_parallel: expected a whole number ≥ 1, got "ten"'


def test_missing_file_is_a_workflow_file_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(path)
    assert str(caught.value) == f"{path}: cannot read: No such file or directory"


def test_claude_program_named_by_variable_must_exist() -> None:
    text = "name: wf\nmap:\n  input: x\n  agent_template:\n    - claude: /fix\n"
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow_text(text, filename="wf.yml",
                           environ={"PATH": "/nonexistent", "MAPREDUCE_FSM_CLAUDE": "my-claude -p"})
    assert str(caught.value) == (
        "wf.yml:5 map.agent_template[0]: a claude step needs the Claude Code program, but "
        "MAPREDUCE_FSM_CLAUDE names 'my-claude', which is not found on PATH; "
        "fix MAPREDUCE_FSM_CLAUDE")


def test_claude_program_found_on_the_given_path(tmp_path: Path) -> None:
    program = tmp_path / "claude"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    text = "name: wf\nmap:\n  input: x\n  agent_template:\n    - claude: /fix ${item}\n"
    workflow = load_workflow_text(text, environ={"PATH": str(tmp_path)})
    assert workflow.map.agent_template[0].claude == "/fix ${item}"


def test_a_key_with_spaces_is_quoted_in_the_path_as_in_variable_messages() -> None:
    text = "name: wf\nmap:\n  input: x\n  max parallel: 2\n  agent_template: [{shell: a}]\n"
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    assert str(caught.value) == (
        'wf.yml:4 map["max parallel"]: unknown key, did you mean max_parallel?')
