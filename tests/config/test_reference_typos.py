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
