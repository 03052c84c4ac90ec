"""The reduce phase through a real coordinator: map.* variables, when, skip, the confirmation."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import Step
from mapreduce_fsm.console.interaction import NonInteractive, ScriptedInteraction
from mapreduce_fsm.convert import converter
from tests.phases.harness import FakeRunner, Job, RecordingRunner, ok_step

REDUCE_WORKFLOW = """\
name: reduce-test
map:
  input: items.json
  agent_template:
    - shell: "work ${{item}}"
      name: work
error_policy:
  on_item_failure: {on_failure}
reduce:
{reduce}
"""

STEPS = """\
  commands:
    - shell: "first ${map.total}"
      name: first
    - shell: "second"
      name: second
    - shell: "third"
      name: third
"""

QUESTION = "1 of 4 items failed. Reduce over the 3 successful results?"


def failing_items(*failing: str) -> Any:
    def behaviour(step: Step, variables: Any) -> StepResult:
        if step.label == "work" and variables["item"] in failing:
            return StepResult(step="work", status="failed", exit_code=1)
        return ok_step(step, variables)

    return behaviour


def job(tmp_path: Path, reduce: str = STEPS, *, on_failure: str = "dlq") -> Job:
    (tmp_path / "items.json").write_text(json.dumps(["a", "b", "c", "d"]))
    return Job(tmp_path, REDUCE_WORKFLOW.format(reduce=reduce, on_failure=on_failure))


def reduce_calls(runner: FakeRunner) -> list[tuple[str, dict[str, Any]]]:
    return [(label, v) for label, v in runner.calls if label != "work"]


def confirmations(j: Job) -> list[dict[str, Any]]:
    lines = (j.store().path / "events.jsonl").read_text().splitlines()
    return [e["data"] for e in map(json.loads, lines) if e["type"] == "reduce.confirmation"]


def test_reduce_sees_the_map_variables_and_environment(tmp_path: Path) -> None:
    runner = RecordingRunner(failing_items("c"))
    j = job(tmp_path, STEPS + "  confirm: never\n")
    assert j.run(runner).state == "completed"
    results = j.results()
    (_, variables), *_ = reduce_calls(runner)
    summary = variables["map"]
    assert (summary["total"], summary["successful"], summary["failed"], summary["skipped"]) == (
        4, 3, 1, 0)
    assert summary["success_rate"] == 75.0
    ordered = sorted(results, key=lambda r: r.item_index)
    assert summary["results"] == converter.unstructure(ordered)
    assert [r["status"] for r in summary["results"]] == ["success", "success", "failed",
                                                          "success"]
    assert json.loads(Path(summary["results_file"]).read_text()) == summary["results"]
    total = sum(r.duration_secs for r in results)
    assert summary["total_duration_secs"] == round(total, 6)
    assert summary["average_duration_secs"] == round(round(total, 6) / 4, 6)
    env = runner.contexts[-1].env
    assert (env["MAP_TOTAL"], env["MAP_SUCCESSFUL"], env["MAP_FAILED"]) == ("4", "3", "1")
    assert env["MAP_RESULTS_FILE"] == summary["results_file"]
    assert not any("RESULTS" in name and name != "MAP_RESULTS_FILE" for name in env)


def test_skipped_items_count_as_skipped_not_failed(tmp_path: Path) -> None:
    runner = FakeRunner(failing_items("a", "b"))
    j = job(tmp_path, on_failure="skip")
    assert j.run(runner, interaction=ScriptedInteraction()).state == "completed"
    (_, variables), *_ = reduce_calls(runner)
    summary = variables["map"]
    assert (summary["successful"], summary["failed"], summary["skipped"]) == (2, 0, 2)
    assert summary["success_rate"] == 50.0


@pytest.mark.parametrize(
    ("when", "runs"),
    [
        ("map.failed == 0", False),
        ("${map.failed} == 0", False),
        ("map.failed == 1 && map.total == 4", True),
        ("${map.success_rate} >= 75", True),
        ("map.results[2].status == 'failed' && length(map.results) == 4", True),
        ("map.results[0].status == 'failed'", False),
    ],
)
def test_when_decides_whether_reduce_runs(tmp_path: Path, when: str, runs: bool) -> None:
    runner = FakeRunner(failing_items("c"))
    j = job(tmp_path, STEPS + f"  when: {json.dumps(when)}\n  confirm: never\n")
    assert j.run(runner).state == "completed"
    assert bool(reduce_calls(runner)) is runs
    checkpoint = j.checkpoint()
    assert checkpoint.phases["reduce"].status == ("completed" if runs else "skipped")
    if not runs:
        assert checkpoint.history[-1].trigger == "skip"
        assert checkpoint.history[-1].reason == f"reduce.when {when!r} is false"


def test_no_reduce_steps_skips_reduce(tmp_path: Path) -> None:
    j = Job(tmp_path, "name: r\nmap:\n  input: items.json\n  agent_template:\n"
                      "    - shell: work\n")
    (tmp_path / "items.json").write_text('["a"]')
    assert j.run(FakeRunner()).state == "completed"
    last = j.checkpoint().history[-1]
    assert (last.trigger, last.source, last.dest, last.reason) == (
        "skip", "reduce", "completed", "no reduce steps")


def test_failures_ask_and_yes_runs_the_reduce(tmp_path: Path) -> None:
    runner = FakeRunner(failing_items("b"))
    interaction = ScriptedInteraction([True])
    j = job(tmp_path)
    assert j.run(runner, interaction=interaction).state == "completed"
    assert interaction.prompts == [QUESTION]
    assert [label for label, _ in reduce_calls(runner)] == ["first", "second", "third"]
    assert confirmations(j) == [{"question": QUESTION, "answer": True}]


def test_no_pauses_the_job_and_resume_asks_again(tmp_path: Path) -> None:
    runner = FakeRunner(failing_items("b"))
    declined = ScriptedInteraction([False])
    j = job(tmp_path)
    result = j.run(runner, interaction=declined)
    assert (result.state, result.exit_code) == ("paused", 3)
    assert reduce_calls(runner) == []
    checkpoint = j.checkpoint()
    assert (checkpoint.state, checkpoint.resume_phase) == ("paused", "reduce")
    assert checkpoint.phases["reduce"].status == "paused"

    again = FakeRunner()
    accepted = ScriptedInteraction([True])
    assert j.resume(again, interaction=accepted).state == "completed"
    assert accepted.prompts == [QUESTION]
    assert [label for label, _ in again.calls] == ["first", "second", "third"]  # no item re-ran
    assert confirmations(j) == [{"question": QUESTION, "answer": False},
                                {"question": QUESTION, "answer": True}]


def test_confirm_always_asks_even_without_failures(tmp_path: Path) -> None:
    interaction = ScriptedInteraction([True])
    j = job(tmp_path, STEPS + "  confirm: always\n")
    assert j.run(FakeRunner(), interaction=interaction).state == "completed"
    assert interaction.prompts == ["Run reduce over 4 results?"]


@pytest.mark.parametrize(
    ("confirm", "failing"), [("never", ("a", "b")), ("on_failure", ())]
)
def test_no_question_when_confirm_never_or_nothing_failed(
    tmp_path: Path, confirm: str, failing: tuple[str, ...]
) -> None:
    interaction = ScriptedInteraction()  # any question would find no answer and fail the job
    runner = FakeRunner(failing_items(*failing))
    j = job(tmp_path, STEPS + f"  confirm: {confirm}\n")
    assert j.run(runner, interaction=interaction).state == "completed"
    assert interaction.prompts == []
    assert len(reduce_calls(runner)) == 3
    assert confirmations(j) == []


def test_non_interactive_answers_yes_and_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    interaction = NonInteractive(console=Console(file=out, width=200))
    runner = FakeRunner(failing_items("b"))
    j = job(tmp_path)
    assert j.run(runner, interaction=interaction).state == "completed"
    assert f"{QUESTION} -> yes (no terminal)" in out.getvalue()
    assert len(reduce_calls(runner)) == 3


def test_a_resume_after_a_crash_between_steps_does_not_ask_again(tmp_path: Path) -> None:
    crashing = FakeRunner(failing_items("b"), crash_after=4 + 1)  # 4 items, then 1 reduce step
    j = job(tmp_path)
    first = j.run(crashing, interaction=ScriptedInteraction([True]))
    assert first.interrupted and first.state == "reduce"
    assert [label for label, _ in reduce_calls(crashing)] == ["first"]
    assert j.checkpoint().phases["reduce"].next_step == 1

    runner = FakeRunner()
    silent = ScriptedInteraction()
    assert j.resume(runner, interaction=silent).state == "completed"
    assert silent.prompts == []
    assert [label for label, _ in runner.calls] == ["second", "third"]
    (_, second), _ = runner.calls
    assert second["map"]["total"] == 4  # the map variables are there after the resume too
