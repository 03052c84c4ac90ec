"""`mapreduce-fsm validate FILE` as a subprocess: exit 0 when good, 2 and every issue when bad."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.bad_cases import BAD_CASES
from tests.config.test_hostile_files import HEADER, alias_bomb

ROOT = Path(__file__).parents[2]
GOOD_FILES = [ROOT / "tests" / "config" / "fixtures" / "format_example.yml",
              ROOT / "mapreduce_fsm" / "examples" / "word_stats.yml"]


def validate(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": "/nonexistent", "PYTHONPATH": str(ROOT)}
    env.pop("MAPREDUCE_FSM_CLAUDE", None)
    return subprocess.run([sys.executable, "-m", "mapreduce_fsm", "validate", str(path)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", GOOD_FILES, ids=[path.name for path in GOOD_FILES])
def test_good_file_exits_0_with_a_summary(path: Path, tmp_path: Path) -> None:
    result = validate(path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert ": valid — " in result.stdout


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BAD_CASES],
                         ids=[case[0] for case in BAD_CASES])
def test_bad_file_exits_2_with_every_issue(text: str, expected: list[str],
                                           tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(text)
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for message in expected:
        assert message in result.stderr


def test_every_merge_variable_passes_validate_in_a_merge_block(tmp_path: Path) -> None:
    names = ("worktree", "source_branch", "target_branch", "session_id", "commits",
             "commit_count", "commit_ids", "modified_files", "file_count", "file_list")
    steps = "".join(f"  - shell: echo ${{merge.{name}}}\n" for name in names)
    (tmp_path / "wf.yml").write_text(
        "name: m\nmap:\n  input: items.json\n  agent_template:\n    - shell: 'true'\n"
        f"merge:\n{steps}")
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert ": valid — " in result.stdout


def test_an_unknown_custom_phase_type_is_found_by_validate(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(
        "name: cp\nmap:\n  input: items.json\n  agent_template:\n    - shell: 'true'\n"
        "custom_phases:\n  - name: check\n    type: verifyy\n    after: map\n"
    )
    result = validate(Path("wf.yml"), tmp_path)
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip() == (
        "error: wf.yml custom_phases[0].type: unknown phase type 'verifyy'; did you mean "
        "verify? (known: verify; or give an import path such as 'mypackage.phases:MyPhase')"
    )


@pytest.mark.parametrize(("name", "text", "message"), [
    ("control.yml", "name: wf\x01\nmap:\n  input: items.json\n",
     "error: control.yml:1:9: invalid YAML: unacceptable character #x0001: special "
     "characters are not allowed"),
    ("bomb.yml", HEADER + alias_bomb(),
     "error: bomb.yml:10: the aliases in this file repeat more than 100,000 values;"),
    ("zen.yml", HEADER + "custom_phases: [{name: zen, type: 'this:'}]\n",
     "error: zen.yml custom_phases[0].type: 'this:' is not an import path"),
])
def test_a_hostile_file_exits_2_naming_it_without_a_traceback(name: str, text: str,
                                                              message: str,
                                                              tmp_path: Path) -> None:
    (tmp_path / name).write_text(text)
    result = validate(Path(name), tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stdout == ""  # nothing ran: `this` prints the Zen of Python when imported
