"""Prodigy's step keys at run time: commit_required, capture sub-fields, stderr, claude calls."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.commands import StepContext, StepResult, run_step, run_steps
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import CaptureStreams, OnFailure, Step

from .test_steps import fake_program


def run(step: Step, variables: Mapping[str, Any] | None = None, **context: Any) -> StepResult:
    context.setdefault("cwd", Path.cwd())
    return asyncio.run(run_step(step, variables or {}, StepContext(**context)))


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for command in (["init", "-q"], ["config", "user.email", "t@example.com"],
                    ["config", "user.name", "t"], ["commit", "-q", "--allow-empty", "-m", "0"]):
        subprocess.run(["git", *command], cwd=path, check=True)
    return path


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


COMMIT = "echo x >> f && git add f && git commit -q -m step"


# --- commit_required ------------------------------------------------------------------

def test_commit_required_passes_when_the_step_commits(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    result = run(Step(shell=COMMIT, commit_required=True), cwd=repo)
    assert result.status == "success", result.error


def test_commit_required_fails_naming_the_step_when_head_did_not_move(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    result = run(Step(shell="echo x > f", name="edit", commit_required=True), cwd=repo)
    assert result.status == "failed"
    assert (result.step, result.error) == ("edit", "commit_required, but HEAD did not move "
                                                   f"(still {head(repo)[:12]})")


def test_commit_required_uses_the_steps_own_working_directory(tmp_path: Path) -> None:
    # the context's cwd is not a repository; the step's working_dir is
    git_repo(tmp_path / "repo")
    result = run(Step(shell=COMMIT, working_dir="repo", commit_required=True), cwd=tmp_path)
    assert result.status == "success", result.error


def test_commit_required_outside_a_git_work_tree_fails_clearly(tmp_path: Path) -> None:
    result = run(Step(shell="true", name="s", commit_required=True), cwd=tmp_path)
    assert result.status == "failed"
    assert (result.error or "").startswith("commit_required, but")
    assert "is not in a git work tree" in (result.error or "")


def test_commit_required_in_an_on_failure_handler(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    handler = Step(shell="echo fixed", commit_required=True)
    step = Step(shell="exit 1", on_failure=OnFailure(handlers=(handler,)))
    result = run(step, cwd=repo)
    assert not result.ok
    assert "commit_required, but HEAD did not move" in (result.error or "")
    committing = Step(shell="exit 1", on_failure=OnFailure(handlers=(
        Step(shell=COMMIT, commit_required=True),)))
    assert run(committing, cwd=repo).ok


def test_commit_required_in_a_file_loads_into_the_step() -> None:
    workflow = load_workflow_text(
        "name: w\nmap:\n  input: x.json\n  agent_template:\n"
        "    - shell: make\n      commit_required: true\n"
        "      on_failure:\n        shell: fix\n        commit_required: true\n")
    step = workflow.map.agent_template[0]
    assert step.commit_required
    assert step.on_failure is not None and step.on_failure.handlers[0].commit_required


# --- capture: NAME with capture_streams ------------------------------------------------

def test_capture_sets_output_and_sub_fields_for_later_steps(tmp_path: Path) -> None:
    steps = (
        Step(shell="echo 41; echo warn >&2", capture_output="count",
             capture_format="number", capture_streams=CaptureStreams(stderr=True)),
        Step(shell="echo ${count} ${count.exit_code} ${count.success} ${count.stderr}"),
    )
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.ok, outcome.failed
    assert outcome.results[1].stdout == "41 0 true warn\n"
    assert outcome.variables["count"] == 41
    assert isinstance(outcome.variables["count.duration"], float)


def test_capture_streams_leave_out_what_is_not_asked(tmp_path: Path) -> None:
    step = Step(shell="echo hi >&2; echo out", capture_output="c",
                capture_streams=CaptureStreams(stdout=False, exit_code=False))
    outcome = asyncio.run(run_steps((step,), {}, StepContext(cwd=tmp_path)))
    assert outcome.variables["c"] == ""
    assert "c.exit_code" not in outcome.variables
    assert "c.stderr" not in outcome.variables


def test_capture_key_in_a_file_is_capture_output_with_sub_fields() -> None:
    workflow = load_workflow_text(
        "name: w\nmap:\n  input: x.json\n  agent_template:\n"
        "    - shell: echo 1\n      capture: n\n      capture_format: number\n"
        "      capture_streams: {stderr: true, duration: false}\n"
        "    - shell: echo ${n.stderr}\n      capture: \"shell.output\"\n")
    first, second = workflow.map.agent_template
    assert first.capture_output == "n" and first.capture_format == "number"
    assert first.capture_streams == CaptureStreams(stderr=True, duration=False)
    assert second.capture_output == "shell.output"


def test_a_dotted_capture_sets_the_namespace_field(tmp_path: Path) -> None:
    steps = (Step(shell="echo one", capture_output="shell.output",
                  capture_streams=CaptureStreams()),
             Step(shell="echo ${shell.output.exit_code}"))
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.ok, outcome.failed
    assert outcome.results[1].stdout == "0\n"


# --- ${shell.stderr}, ${claude.output}, ${shell.output} in on_failure ------------------

def test_shell_stderr_of_the_last_step(tmp_path: Path) -> None:
    steps = (Step(shell="echo oops >&2"), Step(shell="echo got: ${shell.stderr}"))
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.results[1].stdout == "got: oops\n"


def test_on_failure_handler_sees_stdout_and_stderr_as_shell_output(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    handler = Step(shell=f"printf '%s|%s' ${{shell.output|sh}} ${{shell.stderr|sh}} > {out}")
    step = Step(shell="echo to-out; echo to-err >&2; exit 3",
                on_failure=OnFailure(handlers=(handler,)))
    assert run(step, cwd=tmp_path).recovered
    assert out.read_text() == "to-out\nto-err|to-err"


def test_claude_output_and_env_in_prompts(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_program(bin_dir, "claude")
    args = tmp_path / "args"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ARGS_FILE": str(args),
           "MAPREDUCE_FSM_CLAUDE": ""}
    # a value is put in once, never read again as a reference
    variables = {"env": {"TARGET": "src/a.py", "MODE": "strict", "ODD": "$TARGET ${item}"},
                 "TARGET": "src/a.py"}
    steps = (Step(claude="/fix $TARGET in ${MODE} mode, not $HOME; $ODD"),
             Step(shell="echo ${claude.output}"))
    outcome = asyncio.run(run_steps(steps, variables, StepContext(cwd=tmp_path, env=env)))
    assert outcome.ok, outcome.failed
    assert args.read_text().splitlines()[-1] == (
        "/fix src/a.py in strict mode, not $HOME; $TARGET ${item}")
    assert outcome.results[1].stdout == "fake answer\n"


def test_shell_steps_keep_bare_variables_for_the_shell(tmp_path: Path) -> None:
    result = run(Step(shell="echo $TARGET"), {"env": {"TARGET": "yaml"}}, cwd=tmp_path,
                 env={"TARGET": "from-process-env"})
    assert result.stdout == "from-process-env\n"


@pytest.mark.parametrize(("setting", "expected"), [
    ("--allowedTools 'Edit Read'", ["--allowedTools", "Edit Read"]),
    ("", []),
])
def test_claude_permissions_can_be_narrowed(tmp_path: Path, setting: str,
                                            expected: list[str]) -> None:
    program = fake_program(tmp_path / "bin", "claude")
    args = tmp_path / "args"
    env = {"MAPREDUCE_FSM_CLAUDE": str(program), "ARGS_FILE": str(args),
           "MAPREDUCE_FSM_CLAUDE_ARGS": setting}
    assert run(Step(claude="hi"), cwd=tmp_path, env=env).ok
    assert args.read_text().splitlines() == ["--print", *expected, "hi"]
