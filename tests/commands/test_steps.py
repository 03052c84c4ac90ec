"""Running single steps: shell, claude, write_file, captures, `when`, masking, run_steps."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce_fsm.commands import SecretMasker, StepContext, StepResult, run_step, run_steps
from mapreduce_fsm.config.model import CaptureFormat, Step, WriteFileSpec


def run(step: Step, variables: Mapping[str, Any] | None = None, **context: Any) -> StepResult:
    context.setdefault("cwd", Path.cwd())
    return asyncio.run(run_step(step, variables or {}, StepContext(**context)))


# --- shell quoting: the property ------------------------------------------------------

@settings(max_examples=60)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\x00")))
def test_sh_filter_passes_any_string_through_the_shell_unchanged(value: str) -> None:
    result = run(Step(shell="printf '%s' ${x|sh}"), {"x": value})
    assert result.status == "success", result.error
    assert result.stdout == value


@pytest.mark.parametrize(
    "value", ["", "a b", "it's", '"q"', "$HOME", "`id`", "$(id)", "line1\nline2\n", "-n", "ünï ✓"]
)
def test_sh_filter_known_hard_values(value: str) -> None:
    assert run(Step(shell="printf '%s' ${x|sh}"), {"x": value}).stdout == value


# --- shell basics ---------------------------------------------------------------------

def test_env_layers_and_working_dir(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    step = Step(
        shell='pwd; echo "$FROM_CONTEXT $FROM_STEP"; test -n "$PATH" && echo has-path',
        env={"FROM_STEP": "step-${item.v}"},
        working_dir="sub/${item.d}",
    )
    result = run(step, {"item": {"v": "x", "d": "deep"}}, cwd=tmp_path,
                 env={"FROM_CONTEXT": "ctx"})
    assert result.stdout.splitlines() == [str(tmp_path / "sub" / "deep"), "ctx step-x", "has-path"]


def test_default_working_dir_is_the_context_cwd_and_stdin_is_empty(tmp_path: Path) -> None:
    result = run(Step(shell="pwd; cat"), cwd=tmp_path)
    assert result.stdout == f"{tmp_path}\n"


def test_missing_working_dir_is_a_failed_step(tmp_path: Path) -> None:
    result = run(Step(shell="true", working_dir="nope"), cwd=tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert "working directory" in result.error and "nope" in result.error


def test_nonzero_exit_fails_with_code_and_last_stderr_line(tmp_path: Path) -> None:
    result = run(Step(shell="echo one >&2; echo 'bad thing' >&2; exit 4"), cwd=tmp_path)
    assert (result.status, result.exit_code) == ("failed", 4)
    assert result.error == "exited with code 4: bad thing"
    assert not result.ok


def test_interpolation_error_is_a_failed_step_naming_the_step(tmp_path: Path) -> None:
    result = run(Step(shell="echo ${item.nmae}", name="count words"), {"item": {"name": "a"}},
                 cwd=tmp_path)
    assert result.status == "failed"
    assert result.error == 'step "count words": ${item.nmae} does not exist; item has: name'


# --- captures -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("command", "capture_format", "expected"),
    [
        ("printf 'a b\\n\\n\\n'", "string", "a b"),
        ("echo '{\"n\": [1, 2]}'", "json", {"n": [1, 2]}),
        ("printf 'x\\n\\ny\\n  \\nz'", "lines", ["x", "y", "z"]),
        ("echo ' 42 '", "number", 42),
        ("echo 2.5", "number", 2.5),
        ("echo 3.0", "number", 3),
        ("echo YES", "boolean", True),
        ("echo 0", "boolean", False),
        ("echo False", "boolean", False),
    ],
)
def test_capture_formats(
    tmp_path: Path, command: str, capture_format: CaptureFormat, expected: Any
) -> None:
    steps = [
        Step(shell=command, capture_output="value", capture_format=capture_format),
        Step(shell="printf '%s' ${value|json|sh}"),
    ]
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.ok
    assert outcome.results[0].captures == {"value": expected}
    assert json.loads(outcome.results[1].stdout) == expected


@pytest.mark.parametrize(
    ("command", "capture_format", "message"),
    [
        ("echo '{broken'", "json", "capture_format json: the output is not valid JSON"),
        ("echo many", "number", "capture_format number: expected a number, got 'many'"),
        ("echo nan", "number", "expected a number"),
        ("echo maybe", "boolean", "capture_format boolean: expected true/false"),
    ],
)
def test_capture_format_errors_fail_the_step(
    tmp_path: Path, command: str, capture_format: CaptureFormat, message: str
) -> None:
    step = Step(shell=command, capture_output=True, capture_format=capture_format)
    result = run(step, cwd=tmp_path)
    assert result.status == "failed"
    assert message in (result.error or "")


def test_shell_output_and_last_exit_code_flow_to_the_next_step(tmp_path: Path) -> None:
    steps = [
        Step(shell="printf 'hello\\n\\n'"),
        Step(shell="echo '[${shell.output}] ${last.exit_code}'"),
        Step(shell="echo '[1,2]'", capture_output=True, capture_format="json"),
        Step(shell="echo ${shell.output[1]}"),
    ]
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert [r.stdout for r in outcome.results] == ["hello\n\n", "[hello] 0\n", "[1,2]\n", "2\n"]
    assert outcome.variables["shell"] == {"output": "2", "stderr": ""}
    assert outcome.variables["last"] == {"exit_code": 0}


# --- write_file -----------------------------------------------------------------------

def write(spec: WriteFileSpec, tmp_path: Path, variables: Mapping[str, Any]) -> StepResult:
    return run(Step(write_file=spec), variables, cwd=tmp_path)


def test_write_file_text_is_interpolated(tmp_path: Path) -> None:
    result = write(WriteFileSpec(path="${item.n}.txt", content="hi ${item.n}\n"), tmp_path,
                   {"item": {"n": "a"}})
    assert (result.status, result.exit_code, result.stdout) == ("success", 0, "")
    assert (tmp_path / "a.txt").read_text() == "hi a\n"


def test_write_file_json_interpolates_every_string(tmp_path: Path) -> None:
    content = {"name": "${item.n}", "list": ["${item.n}!", 3], "${item.n}": True}
    spec = WriteFileSpec(path="o.json", format="json", content=content)
    assert write(spec, tmp_path, {"item": {"n": "a"}}).status == "success"
    text = (tmp_path / "o.json").read_text()
    assert json.loads(text) == {"name": "a", "list": ["a!", 3], "a": True}
    assert text == json.dumps(json.loads(text), indent=2) + "\n"


def test_write_file_yaml(tmp_path: Path) -> None:
    spec = WriteFileSpec(path="o.yml", format="yaml", content={"k": "${item.n}", "l": [1, "é"]})
    assert write(spec, tmp_path, {"item": {"n": "v"}}).status == "success"
    assert yaml.safe_load((tmp_path / "o.yml").read_text()) == {"k": "v", "l": [1, "é"]}


def test_write_file_string_json_must_parse(tmp_path: Path) -> None:
    spec = WriteFileSpec(path="o.json", format="json", content='{"a": ${item.n}}')
    assert write(spec, tmp_path, {"item": {"n": "1"}}).status == "success"
    result = write(spec, tmp_path, {"item": {"n": "oops"}})
    assert result.status == "failed"
    assert "not valid json" in (result.error or "")


def test_write_file_mode(tmp_path: Path) -> None:
    assert write(WriteFileSpec(path="s", content="x", mode="0600"), tmp_path, {}).ok
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="octal"):  # the model refuses it before any run
        WriteFileSpec(path="t", content="x", mode="rw")


def test_write_file_create_dirs(tmp_path: Path) -> None:
    missing = write(WriteFileSpec(path="a/b/c.txt", content="x"), tmp_path, {})
    assert missing.status == "failed"
    assert "does not exist (set create_dirs: true" in (missing.error or "")
    assert not (tmp_path / "a").exists()
    created = write(WriteFileSpec(path="a/b/c.txt", content="x", create_dirs=True), tmp_path, {})
    assert created.status == "success"
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"


def test_write_file_is_relative_to_working_dir(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    step = Step(write_file=WriteFileSpec(path="f", content="x"), working_dir="w")
    assert run(step, cwd=tmp_path).ok
    assert (tmp_path / "w" / "f").read_text() == "x"


# --- claude ---------------------------------------------------------------------------

FAKE_CLAUDE = '#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\necho "fake answer"\n'


def fake_program(directory: Path, name: str) -> Path:
    directory.mkdir(exist_ok=True)
    program = directory / name
    program.write_text(FAKE_CLAUDE)
    program.chmod(0o755)
    return program


def test_claude_runs_the_program_on_path_in_print_mode(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_program(bin_dir, "claude")
    args = tmp_path / "args"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ARGS_FILE": str(args),
           "MAPREDUCE_FSM_CLAUDE": ""}
    result = run(Step(claude="/review ${item.path}"), {"item": {"path": "a.py"}}, cwd=tmp_path,
                 env=env)
    assert result.status == "success", result.error
    assert result.stdout == "fake answer\n"
    assert args.read_text() == "--print\n--dangerously-skip-permissions\n/review a.py\n"


def test_claude_command_from_environment_variable(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "elsewhere", "my claude")
    args = tmp_path / "args"
    env = {"MAPREDUCE_FSM_CLAUDE": f"'{program}' --model x", "ARGS_FILE": str(args)}
    result = run(Step(claude="hello"), cwd=tmp_path, env=env)
    assert result.status == "success", result.error
    assert args.read_text() == "--model\nx\n--print\n--dangerously-skip-permissions\nhello\n"


def test_missing_claude_program_says_how_to_fix_it(tmp_path: Path) -> None:
    result = run(Step(claude="hi"), cwd=tmp_path, claude_command=("no-such-claude-program",))
    assert result.status == "failed"
    assert "'no-such-claude-program' was not found" in (result.error or "")
    assert "install Claude Code" in (result.error or "")
    assert "MAPREDUCE_FSM_CLAUDE" in (result.error or "")


# --- when -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("when", "runs"),
    [
        ("item.size > 10", True),
        ("item.size > 100", False),
        ('${item.kind} == "doc"', True),
        ('${item.kind} == "code"', False),
        ("${item.size} >= 42 && last.exit_code == 0", True),
    ],
)
def test_when_decides_whether_the_step_runs(tmp_path: Path, when: str, runs: bool) -> None:
    variables = {"item": {"size": 42, "kind": "doc"}, "last": {"exit_code": 0}}
    outcome = asyncio.run(run_steps(
        [Step(shell="echo ran", when=when)], variables, StepContext(cwd=tmp_path)
    ))
    assert outcome.ok
    assert outcome.results[0].status == ("success" if runs else "skipped")
    assert ("shell" in outcome.variables) is runs


def test_when_expression_error_fails_the_step(tmp_path: Path) -> None:
    result = run(Step(shell="echo ran", when="item.size >"), {"item": {"size": 1}}, cwd=tmp_path)
    assert result.status == "failed"
    assert (result.error or "").startswith("when: ")
    assert "column" in (result.error or "")


# --- secrets --------------------------------------------------------------------------

def test_secrets_are_masked_in_stdout_stderr_and_error_but_not_in_captures(tmp_path: Path) -> None:
    step = Step(shell='echo "token=$TOKEN"; echo "err $TOKEN" >&2; exit 3', capture_output="c")
    result = run(step, cwd=tmp_path, env={"TOKEN": "s3cr3t-value"},
                 masker=SecretMasker(("s3cr3t-value", "")))
    assert result.stdout == "token=***\n"
    assert result.stderr == "err ***\n"
    assert result.error == "exited with code 3: err ***"
    captured = run(Step(shell='echo "$TOKEN"', capture_output="c"), cwd=tmp_path,
                   env={"TOKEN": "s3cr3t-value"}, masker=SecretMasker(("s3cr3t-value",)))
    assert captured.stdout == "***\n"
    assert captured.captures == {"c": "s3cr3t-value"}


# --- run_steps ------------------------------------------------------------------------

def test_run_steps_stops_at_first_failure_and_reports_each_step(tmp_path: Path) -> None:
    seen: list[tuple[int, str, Any]] = []

    async def on_step_done(index: int, result: StepResult, variables: Mapping[str, Any]) -> None:
        seen.append((index, result.status, variables.get("out")))

    steps = [
        Step(shell="echo one", capture_output="out"),
        Step(shell="exit 2"),
        Step(shell="echo never"),
    ]
    variables = {"item": {"a": 1}}
    outcome = asyncio.run(run_steps(steps, variables, StepContext(cwd=tmp_path),
                                    on_step_done=on_step_done))
    assert not outcome.ok
    assert outcome.failed == outcome.results[1]
    assert [r.status for r in outcome.results] == ["success", "failed"]
    assert seen == [(0, "success", "one"), (1, "failed", "one")]
    assert variables == {"item": {"a": 1}}
    assert outcome.variables["last"] == {"exit_code": 2}


def test_run_steps_resumes_from_start_index_with_saved_variables(tmp_path: Path) -> None:
    steps = [Step(shell="exit 1"), Step(shell="echo ${saved}")]
    outcome = asyncio.run(run_steps(steps, {"saved": "kept"}, StepContext(cwd=tmp_path),
                                    start_index=1))
    assert outcome.ok
    assert [r.stdout for r in outcome.results] == ["kept\n"]


def test_run_steps_turns_interpolation_errors_into_a_failed_step(tmp_path: Path) -> None:
    outcome = asyncio.run(run_steps([Step(shell="echo ${map.total}")], {},
                                    StepContext(cwd=tmp_path)))
    assert outcome.failed is not None
    assert "there are no map variables here" in (outcome.failed.error or "")


def test_runner_works_with_the_current_interpreter_path(tmp_path: Path) -> None:
    result = run(Step(shell=f"'{sys.executable}' -c 'print(6 * 7)'"), cwd=tmp_path)
    assert result.stdout == "42\n"


@pytest.mark.parametrize("step", [
    Step(shell="echo ${x|sh}"),                             # in the command line
    Step(shell="echo $X", env={"X": "${x}"}),               # in the environment
    Step(shell="pwd", working_dir="${x}"),                  # in the working directory
])
def test_a_nul_byte_for_a_program_fails_the_step_with_a_message(
    tmp_path: Path, step: Step
) -> None:
    result = run(step, {"x": "a\0b"}, cwd=tmp_path)
    assert result.status == "failed"
    assert "holds a NUL byte" in (result.error or "")


def test_a_nul_byte_in_a_write_file_path_fails_the_step(tmp_path: Path) -> None:
    step = Step(write_file=WriteFileSpec(path="out-${x}.txt", content="c"))
    result = run(step, {"x": "a\0b"}, cwd=tmp_path)
    assert result.status == "failed"
    assert "holds a NUL byte" in (result.error or "")
