"""A step's `validate:`: the JSON report, the threshold, on_incomplete repairs, the variables."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mapreduce_fsm.commands import StepContext, run_steps
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import OnIncomplete, Step, Validation

from .test_prodigy_steps import git_repo

# A report that grows 50 points each time `fix` runs: 50 first, 100 after one repair.
SCORE = ('n=$(cat fixes 2>/dev/null || echo 0); p=$((50 + 50 * n)); '
         'printf \'{"completion_percentage": %s, "status": "s%s", "missing": %s}\' "$p" "$p" '
         '"$([ $p -ge 100 ] && echo [] || echo \'["tests"]\')"')
FIX = "n=$(cat fixes 2>/dev/null || echo 0); echo $((n + 1)) > fixes"


def run(steps: tuple[Step, ...], cwd: Path) -> tuple[bool, list[str], dict[str, object]]:
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=cwd)))
    return outcome.ok, [r.error or r.stdout for r in outcome.results], dict(outcome.variables)


def test_a_complete_report_lets_the_step_succeed_and_sets_the_variables(tmp_path: Path) -> None:
    (tmp_path / "fixes").write_text("1")
    step = Step(shell="true", validate=Validation(commands=(Step(shell=SCORE),)))
    ok, _, variables = run((step,), tmp_path)
    assert ok
    assert variables["validation"] == {
        "completion": 100.0, "completion_percentage": 100.0, "status": "s100", "missing": [],
        "missing_count": 0, "implemented": [], "gaps": {}, "attempt_number": 1}


def test_below_threshold_without_on_incomplete_fails_naming_what_is_missing(
        tmp_path: Path) -> None:
    step = Step(shell="true", validate=Validation(commands=(Step(shell=SCORE),)))
    ok, errors, _ = run((step,), tmp_path)
    assert not ok
    assert "50% complete, below the threshold of 100%; missing: tests" in errors[0]


def test_threshold_lower_than_the_score_passes(tmp_path: Path) -> None:
    step = Step(shell="true", validate=Validation(commands=(Step(shell=SCORE),), threshold=50))
    assert run((step,), tmp_path)[0]


def test_on_incomplete_repairs_then_validates_again(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    repair = Step(shell=f"{FIX}; echo ${{validation.missing_count}} "
                        f"${{validation.attempt_number}} > {seen}")
    step = Step(shell="true", validate=Validation(
        commands=(Step(shell=SCORE),), on_incomplete=OnIncomplete(commands=(repair,))))
    ok, _, variables = run((step, Step(shell="echo ${validation.completion}")), tmp_path)
    assert ok
    assert seen.read_text() == "1 1\n"
    assert variables["validation"]["attempt_number"] == 2  # type: ignore[index]
    assert variables["shell"] == {"output": "100.0", "stderr": ""}


def test_attempts_run_out_then_the_step_fails_unless_fail_workflow_is_false(
        tmp_path: Path) -> None:
    never = Validation(commands=(Step(shell=SCORE),), on_incomplete=OnIncomplete(
        commands=(Step(shell="true"),), max_attempts=2))
    ok, errors, _ = run((Step(shell="true", validate=never),), tmp_path)
    assert not ok
    assert "validation incomplete after 3 attempts" in errors[0]
    lenient = Validation(commands=never.commands, on_incomplete=OnIncomplete(
        commands=(Step(shell="true"),), max_attempts=1, fail_workflow=False))
    assert run((Step(shell="true", validate=lenient),), tmp_path)[0]


def test_result_file_is_read_from_the_steps_directory(tmp_path: Path) -> None:
    report = {"completion_percentage": 90, "missing": ["a", "b"], "implemented": ["c"]}
    step = Step(shell="true", validate=Validation(
        commands=(Step(shell=f"echo '{json.dumps(report)}' > out.json"),),
        result_file="out.json", threshold=95))
    ok, errors, _ = run((step,), tmp_path)
    assert not ok and "missing: a, b" in errors[0]


def test_plain_commands_score_by_their_exit_status(tmp_path: Path) -> None:
    assert run((Step(shell="true", validate=Validation(commands=(Step(shell="echo ok"),))),),
               tmp_path)[0]
    assert not run((Step(shell="true", validate=Validation(
        commands=(Step(shell="exit 1"),))),), tmp_path)[0]


def test_on_incomplete_commit_required(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    validation = Validation(commands=(Step(shell=SCORE),), on_incomplete=OnIncomplete(
        commands=(Step(shell=FIX),), commit_required=True))
    ok, errors, _ = run((Step(shell="true", validate=validation),), repo)
    assert not ok
    assert "on_incomplete: commit_required, but HEAD did not move" in errors[0]
    committing = with_committing_repair(validation, f"{FIX} && git add -A && git commit -qm fix")
    assert run((Step(shell="true", validate=committing),), repo)[0]


def with_committing_repair(validation: Validation, shell: str) -> Validation:
    assert validation.on_incomplete is not None
    return Validation(commands=validation.commands, on_incomplete=OnIncomplete(
        commands=(Step(shell=shell),), commit_required=True))


def test_every_documented_validate_form_loads() -> None:
    workflow = load_workflow_text("""
name: w
map:
  input: x.json
  agent_template:
    - claude: "/implement ${item.spec}"
      validate:
        claude: "/check ${item.spec} --output .result.json"
        result_file: .result.json
        threshold: 90
        timeout: 300
        expected_schema: {type: object}
        on_incomplete:
          claude: "/complete ${validation.gaps}"
          max_attempts: 3
          fail_workflow: false
          commit_required: true
    - shell: make
      validate:
        - shell: "make test"
        - "cargo clippy"
    - shell: make
      validate:
        commands:
          - shell: "make lint"
        on_incomplete:
          commands:
            - shell: "make fix"
          prompt: "Fix the lint errors"
    - shell: make
      validate:
        command: "make check"
        on_incomplete:
          shell: "make fix"
""", environ={"MAPREDUCE_FSM_CLAUDE": "true", "PATH": "/usr/bin:/bin"})
    first, second, third, fourth = workflow.map.agent_template
    assert first.validate is not None and first.validate.threshold == 90
    assert first.validate.result_file == ".result.json" and first.validate.timeout == 300
    assert first.validate.commands[0].claude == "/check ${item.spec} --output .result.json"
    assert first.validate.on_incomplete == OnIncomplete(
        commands=(Step(claude="/complete ${validation.gaps}"),), max_attempts=3,
        fail_workflow=False, commit_required=True)
    assert second.validate is not None
    assert [c.shell for c in second.validate.commands] == ["make test", "cargo clippy"]
    assert third.validate is not None and third.validate.on_incomplete is not None
    assert third.validate.on_incomplete.prompt == "Fix the lint errors"
    assert fourth.validate is not None and fourth.validate.commands[0].shell == "make check"
