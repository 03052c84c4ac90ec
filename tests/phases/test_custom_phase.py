"""Custom phases: the bundled `verify` placed by `custom_phases:`, and one registered here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import CustomPhaseConfig, Step, Workflow
from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.errors import WorkflowFileError
from mapreduce_fsm.phases import PhaseContext, PhaseResult, build_phases, register_phase
from mapreduce_fsm.phases import machine as fsm
from tests.phases.harness import FakeRunner, Job, RecordingRunner, ok_step

VERIFY_WORKFLOW = """\
name: verify-test
map:
  input: items.json
  agent_template:
    - shell: "work ${{item}}"
      name: work
reduce:
  - shell: "sum"
    name: sum
custom_phases:
  - type: verify
    after: reduce
    options:
      min_success_rate: {rate}
      checks:
        - "test -s out.txt"
        - "test ${{map.total}} -gt 0"
        - "echo done"
"""


def failing_items(*failing: str) -> Any:
    def behaviour(step: Step, variables: Any) -> StepResult:
        if step.label == "work" and variables["item"] in failing:
            return StepResult(step="work", status="failed", exit_code=1)
        return ok_step(step, variables)

    return behaviour


def verify_job(tmp_path: Path, rate: int = 50) -> Job:
    (tmp_path / "items.json").write_text(json.dumps(["a", "b", "c", "d"]))
    return Job(tmp_path, VERIFY_WORKFLOW.format(rate=rate))


def moves(job: Job) -> list[tuple[str, str, str]]:
    return [(t.trigger, t.source, t.dest) for t in job.checkpoint().history]


def test_verify_is_placed_after_reduce_with_its_own_state(tmp_path: Path) -> None:
    job = verify_job(tmp_path)
    workflow = load_workflow_text(job.workflow_text, filename="wf.yml", environ={})
    names = [phase.name for phase in build_phases(workflow)]
    assert names == ["setup", "map", "reduce", "verify"]
    assert "verify" in fsm.states(names)
    assert fsm.Edge(trigger=fsm.CONTINUE, source="reduce", dest="verify") in (
        fsm.transition_table(names))

    runner = FakeRunner()
    assert job.run(runner).state == "completed"
    assert moves(job)[-2:] == [("continue_", "reduce", "verify"),
                               ("continue_", "verify", "completed")]
    checkpoint = job.checkpoint()
    assert checkpoint.phase_order == ("setup", "map", "reduce", "verify")
    assert checkpoint.phases["verify"].status == "completed"
    assert checkpoint.phases["verify"].next_step == 3
    checks = [(label, v) for label, v in runner.calls if label.startswith("check")]
    assert [label for label, _ in checks] == ["check 1", "check 2", "check 3"]
    assert checks[1][1]["map"]["total"] == 4  # the checks see the map variables


def test_verify_fails_the_job_below_the_minimum_success_rate(tmp_path: Path) -> None:
    job = verify_job(tmp_path, rate=50)
    runner = FakeRunner(failing_items("a", "b", "c"))
    result = job.run(runner, interaction=ScriptedInteraction([True]))
    assert (result.state, result.exit_code) == ("failed", 1)
    assert result.error == ("success rate 25.0% is below min_success_rate 50.0% "
                            "(1 of 4 items)")
    assert job.checkpoint().resume_phase == "verify"
    assert not any(label.startswith("check") for label, _ in runner.calls)


def test_verify_passes_at_the_minimum(tmp_path: Path) -> None:
    job = verify_job(tmp_path, rate=50)
    result = job.run(FakeRunner(failing_items("a", "b")), interaction=ScriptedInteraction([True]))
    assert result.state == "completed"
    assert result.phase_results["verify"].data == {"success_rate": 50.0}


def test_a_failing_check_fails_the_job_naming_it(tmp_path: Path) -> None:
    def check_2_fails(step: Step, variables: Any) -> StepResult:
        if step.label == "check 2":
            return StepResult(step=step.label, status="failed", exit_code=1)
        return ok_step(step, variables)

    result = verify_job(tmp_path).run(FakeRunner(check_2_fails))
    assert result.state == "failed"
    assert result.error == "step 'check 2' exited with code 1"


def test_a_crash_in_the_second_check_resumes_at_the_second_check(tmp_path: Path) -> None:
    job = verify_job(tmp_path)
    crashing = FakeRunner(crash_after=4 + 1 + 1)  # 4 items, the reduce step, check 1
    first = job.run(crashing)
    assert first.interrupted and first.state == "verify"
    assert job.checkpoint().phases["verify"].next_step == 1

    runner = FakeRunner()
    assert job.resume(runner).state == "completed"
    assert [label for label, _ in runner.calls] == ["check 2", "check 3"]


def test_checks_get_the_map_results_and_file_even_without_reduce(tmp_path: Path) -> None:
    job = verify_job(tmp_path)
    job.workflow_text = job.workflow_text.replace('reduce:\n  - shell: "sum"\n    name: sum\n', "")
    runner = RecordingRunner(failing_items("d"))
    assert job.run(runner).state == "completed"
    assert job.checkpoint().phases["reduce"].status == "skipped"
    (_, check), *_ = [(label, v) for label, v in runner.calls if label.startswith("check")]
    summary = check["map"]
    assert [r["item"] for r in summary["results"]] == ["a", "b", "c", "d"]
    assert json.loads(Path(summary["results_file"]).read_text()) == summary["results"]
    env = runner.contexts[-1].env
    assert (env["MAP_TOTAL"], env["MAP_FAILED"]) == ("4", "1")
    assert env["MAP_RESULTS_FILE"] == summary["results_file"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{min_success_rate: 150}", "min_success_rate must be a number from 0 to 100"),
        ("{checks: [1, 2]}", "checks must be a list of shell commands"),
        ("{min_rate: 5}", "unknown options ['min_rate']"),
    ],
)
def test_bad_verify_options_are_file_errors(tmp_path: Path, options: str, message: str) -> None:
    text = VERIFY_WORKFLOW.format(rate=50).split("custom_phases:")[0] + (
        f"custom_phases:\n  - type: verify\n    options: {options}\n")
    workflow = load_workflow_text(text, filename="wf.yml", environ={})
    with pytest.raises(WorkflowFileError, match="custom_phases") as raised:
        build_phases(workflow)
    assert message in str(raised.value)


@register_phase("test-audit")
@attrs.frozen(kw_only=True)
class AuditPhase:
    """A phase defined by a user: notes how many map results it saw in a variable."""

    name: str
    label: str

    @classmethod
    def from_config(cls, workflow: Workflow, config: CustomPhaseConfig) -> AuditPhase:
        return cls(name=config.name, label=str(config.options.get("label", "audit")))

    def can_skip(self, context: PhaseContext) -> str | None:
        return None

    async def execute(self, context: PhaseContext) -> PhaseResult:
        seen = len(context.map_results())
        reduce_status = context.progress("reduce").status
        context.set_variables({**context.variables, "audit_note": f"{self.label}: {seen}"})
        return PhaseResult.completed(self.name, data={"seen": seen,
                                                      "reduce_status": reduce_status})


def test_a_phase_registered_here_runs_where_before_puts_it(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps(["a", "b", "c"]))
    text = VERIFY_WORKFLOW.format(rate=0).split("custom_phases:")[0] + (
        "custom_phases:\n  - type: test-audit\n    name: audit\n    before: reduce\n"
        "    options: {label: counted}\n")
    job = Job(tmp_path, text)
    runner = FakeRunner()
    result = job.run(runner)
    assert result.state == "completed"
    assert job.checkpoint().phase_order == ("setup", "map", "audit", "reduce")
    assert moves(job)[2:] == [("continue_", "map", "audit"), ("continue_", "audit", "reduce"),
                              ("continue_", "reduce", "completed")]
    assert result.phase_results["audit"].data == {"seen": 3, "reduce_status": "pending"}
    (_, reduce_vars), = [(label, v) for label, v in runner.calls if label == "sum"]
    assert reduce_vars["audit_note"] == "counted: 3"  # what it made, later phases see
