"""Hostile item values through `mapreduce-fsm run`: every form prints them exact, none runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.commands.test_shell_safety import FORMS, HOSTILE, SENTINEL
from tests.integration.conftest import Cli

WriteWorkflow = Callable[[str, str], Path]
# A line "EOF" would end the quoted heredoc early: that step is refused (tested on its own).
VALUES = [value for value in HOSTILE if "\nEOF" not in value]


def test_hostile_values_through_the_cli_come_out_exact_and_inject_nothing(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    (tmp_path / "items.json").write_text(json.dumps([{"v": value} for value in VALUES]))
    (tmp_path / "out").mkdir()
    (tmp_path / "empty").mkdir()  # the steps run here: no glob in a value matches anything
    steps = [
        {"shell": f"{{ {template}\n}} > ../out/${{item_index}}.{number}",
         "working_dir": "empty"}
        for number, (template, _) in enumerate(FORMS.values())
    ]
    workflow = {"name": "hostile", "map": {"input": "items.json", "max_parallel": 2,
                                           "agent_template": steps}}
    path = write_workflow("hostile.yml", yaml.safe_dump(workflow))
    code, _, stderr = cli("run", str(path))
    assert code == 0, stderr
    for index, value in enumerate(VALUES):
        for number, (form, (_, expected)) in enumerate(FORMS.items()):
            written = (tmp_path / "out" / f"{index}.{number}").read_bytes().decode()
            assert written == expected(value), (form, value[:40])
    assert not (tmp_path / "empty" / SENTINEL).exists()
    assert not (tmp_path / SENTINEL).exists()


def test_validate_names_every_raw_insertion(
    cli: Cli, write_workflow: WriteWorkflow
) -> None:
    path = write_workflow("raw.yml", """
        name: raw
        map:
          input: "echo '[1]'"
          agent_template:
            - name: build
              shell: "make ${item.target|raw} ${item.other|sh}"
              on_failure: "cleanup ${item.how|raw}"
        """)
    code, stdout, stderr = cli("validate", str(path))
    assert code == 0, stderr
    assert "note: step 'build' inserts ${item.target|raw} as shell code" in stdout
    assert "inserts ${item.how|raw} as shell code" in stdout
    assert "item.other" not in stdout
