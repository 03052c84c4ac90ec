"""`validate` catches what would expand to nothing or fail in the shell: a capture name no
earlier step defines (with did-you-mean) and a `${itme.x}`-style typo of a namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.test_validate_cli import validate

HEAD = "name: wf\n"
SETUP_CAPTURE = ("setup:\n  - shell: echo 42\n    capture_output: answer\n"
                 "  - shell: echo ${answer}\n")


@pytest.mark.parametrize(("body", "message"), [
    (SETUP_CAPTURE + "map:\n  input: items.json\n  agent_template:\n"
     "    - shell: echo ${answr}\n",
     "wf.yml:9 map.agent_template[0].shell: ${answr} is not a variable here; "
     "did you mean ${answer}?"),
    ("setup:\n  - shell: echo ${answer}\n  - shell: echo 42\n    capture_output: answer\n"
     "map:\n  input: items.json\n  agent_template:\n    - shell: echo\n",
     "wf.yml:3 setup[0].shell: ${answer} is captured by a later step "
     "(setup[1]); a step sees only what earlier steps captured"),
    ("map:\n  input: items.json\n  agent_template:\n    - shell: echo ${itme.path}\n",
     "wf.yml:5 map.agent_template[0].shell: ${itme.path} is not a variable (itme is unknown; "
     "did you mean item?)"),
    ("map:\n  input: items.json\n  agent_template:\n    - shell: echo 1\n"
     "      capture_output: count\n"
     "reduce:\n  - shell: echo ${count}\n",
     "wf.yml:8 reduce[0].shell: ${count} is not a variable here; a map step's "
     "captures stay with its item (see ${map.results})"),
])
def test_validate_rejects_a_reference_that_would_expand_to_nothing_or_fail(
    body: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "wf.yml").write_text(HEAD + body)
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr


def test_shell_variables_and_earlier_captures_stay_valid(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(
        HEAD + SETUP_CAPTURE
        + "map:\n  input: items.json\n  agent_template:\n"
          "    - shell: echo ${answer} ${HOME} ${arr[0]} ${f%%.*} ${x:-1}\n"
          "      capture_output: cfg\n      capture_format: json\n"
          "    - shell: echo ${cfg.name} ${cfg}\n"
          "reduce:\n  - shell: echo ${answer}\n")
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 0, result.stderr


CLAUDE_AND_VALIDATION = (
    "map:\n  input: items.json\n  agent_template:\n"
    "    - claude: /fix ${item}\n"
    "      validate:\n"
    "        shell: cat result.json\n"
    "        on_incomplete:\n"
    "          shell: echo ${validation.gaps} ${validation.missing_count}\n"
    "    - shell: echo ${claude.output}\n")


def test_claude_output_after_a_claude_step_and_validation_in_on_incomplete_are_valid(
) -> None:
    from mapreduce_fsm.config import load_workflow_text

    workflow = load_workflow_text(HEAD + CLAUDE_AND_VALIDATION, filename="wf.yml",
                                  environ={"MAPREDUCE_FSM_CLAUDE": "/bin/true"})
    assert workflow.map.agent_template[1].shell == "echo ${claude.output}"


@pytest.mark.parametrize(("body", "message"), [
    ("map:\n  input: items.json\n  agent_template:\n    - shell: echo ${claude.output}\n",
     "${claude.output} is not a variable (claude is unknown"),
    ("map:\n  input: items.json\n  agent_template:\n    - shell: echo ${validation.gaps}\n",
     "${validation.gaps} is not a variable (validation is unknown"),
])
def test_claude_and_validation_are_unknown_before_they_are_set(
    body: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "wf.yml").write_text(HEAD + body)
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
