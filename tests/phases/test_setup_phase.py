"""The setup phase through a real coordinator: steps, captures, failures, resume, skip, timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.phases.context import RunOptions
from tests.phases.harness import FakeRunner, Job, RecordingRunner, scripted_steps

ITEMS = ["a", "b"]

SETUP_WORKFLOW = """\
name: setup-test
env:
  GREETING: hello
setup:
  timeout: 90
  commands:
    - shell: "make list"
      name: list
    - shell: "stats"
      name: stats
    - shell: "version"
      name: version
      capture_output: release
  capture_outputs:
    list_file: 0
    count: { command_index: 1, pattern: "count=(\\\\d+)", default: "0" }
    owner: { command_index: 1, json_path: "$.owner.login" }
    missing: { command_index: 1, pattern: "nomatch=(\\\\d+)", default: "none" }
    head: { command_index: 1, multiline: first_line }
    tail: { command_index: 1, multiline: last_line }
map:
  input: "${list_file}"
  agent_template:
    - shell: "work ${item} ${count}"
      name: work
reduce:
  - shell: "sum ${owner} ${release}"
    name: sum
"""

STATS_OUTPUT = '{"owner": {"login": "ada"},\n "note": "count=42"}\n'
OUTPUTS = {"list": "items.json\n", "stats": STATS_OUTPUT, "version": "v1.2\n"}


def job(tmp_path: Path, text: str = SETUP_WORKFLOW) -> Job:
    (tmp_path / "items.json").write_text(json.dumps(ITEMS))
    return Job(tmp_path, text)


def labels(runner: FakeRunner) -> list[str]:
    return [label for label, _ in runner.calls]


def test_steps_run_in_order_with_the_base_variables(tmp_path: Path) -> None:
    runner = FakeRunner(scripted_steps(OUTPUTS))
    result = job(tmp_path).run(runner)
    assert result.state == "completed"
    assert labels(runner)[:3] == ["list", "stats", "version"]
    _, first = runner.calls[0]
    assert first["GREETING"] == "hello"
    assert first["env"] == {"GREETING": "hello"}
    assert first["workflow"] == {"name": "setup-test"}
    assert first["job"] == {"id": "job-1"}


def test_capture_outputs_in_every_form_reach_the_map_and_reduce(tmp_path: Path) -> None:
    runner = FakeRunner(scripted_steps(OUTPUTS))
    j = job(tmp_path)
    assert j.run(runner).state == "completed"
    expected = {
        "list_file": "items.json",  # index form: the output, trailing newline removed
        "count": "42",  # pattern, group 1
        "owner": "ada",  # json_path
        "missing": "none",  # the pattern found nothing: the default
        "head": '{"owner": {"login": "ada"},',  # multiline: first_line
        "tail": ' "note": "count=42"}',  # multiline: last_line
        "release": "v1.2",  # a named capture_output on the step itself
    }
    variables = j.checkpoint().variables
    assert {name: variables[name] for name in expected} == expected
    # The map's input was interpolated with the capture: both items ran, seeing the captures.
    work = [v for label, v in runner.calls if label == "work"]
    assert sorted(v["item"] for v in work) == ITEMS
    assert all(v["count"] == "42" for v in work)
    (_, reduce_vars), = [call for call in runner.calls if call[0] == "sum"]
    assert (reduce_vars["owner"], reduce_vars["release"]) == ("ada", "v1.2")


def test_multiline_capture_shapes(tmp_path: Path) -> None:
    text = SETUP_WORKFLOW.replace("head: { command_index: 1, multiline: first_line }",
                                  "head: { command_index: 2, multiline: array }")
    runner = FakeRunner(scripted_steps({**OUTPUTS, "version": "v1\n\nv2\n"}))
    j = job(tmp_path, text)
    assert j.run(runner).state == "completed"
    assert j.checkpoint().variables["head"] == ["v1", "v2"]


def test_a_failing_step_fails_the_phase_naming_the_step(tmp_path: Path) -> None:
    runner = FakeRunner(scripted_steps(OUTPUTS, failing={"stats"}))
    j = job(tmp_path)
    result = j.run(runner)
    assert (result.state, result.exit_code) == ("failed", 1)
    assert result.error is not None and "'stats'" in result.error and "code 1" in result.error
    assert labels(runner) == ["list", "stats"]  # nothing after the failed step, no map
    checkpoint = j.checkpoint()
    assert checkpoint.resume_phase == "setup"
    assert checkpoint.phases["setup"].next_step == 1  # the failed step is not done


def test_resume_after_a_crash_starts_at_the_first_unfinished_step(tmp_path: Path) -> None:
    j = job(tmp_path)
    crashing = FakeRunner(scripted_steps(OUTPUTS), crash_after=2)
    first = j.run(crashing)
    assert first.interrupted and first.exit_code == 130
    assert labels(crashing) == ["list", "stats"]
    checkpoint = j.checkpoint()
    assert (checkpoint.state, checkpoint.phases["setup"].next_step) == ("setup", 2)

    runner = FakeRunner(scripted_steps(OUTPUTS))
    assert j.resume(runner).state == "completed"
    assert labels(runner)[0] == "version"
    assert "list" not in labels(runner) and "stats" not in labels(runner)
    # Captures made before the crash survive it: the map and reduce still see them.
    variables = j.checkpoint().variables
    assert (variables["list_file"], variables["count"], variables["owner"]) == (
        "items.json", "42", "ada")
    (_, version_vars), = [call for call in runner.calls if call[0] == "version"]
    assert version_vars["shell"] == {"output": STATS_OUTPUT}  # the last output before the crash
    assert len([label for label in labels(runner) if label == "work"]) == len(ITEMS)


def test_resume_of_a_failed_setup_re_runs_only_the_failed_step_on(tmp_path: Path) -> None:
    j = job(tmp_path)
    assert j.run(FakeRunner(scripted_steps(OUTPUTS, failing={"version"}))).state == "failed"
    runner = FakeRunner(scripted_steps(OUTPUTS))
    assert j.resume(runner).state == "completed"
    assert labels(runner)[0] == "version"
    assert {"list", "stats"}.isdisjoint(labels(runner))
    assert j.checkpoint().variables["release"] == "v1.2"


def test_setup_without_steps_is_skipped_through_the_skip_edge(tmp_path: Path) -> None:
    text = """\
name: no-setup
map:
  input: items.json
  agent_template:
    - shell: "work ${item}"
"""
    j = job(tmp_path, text)
    runner = FakeRunner()
    assert j.run(runner).state == "completed"
    checkpoint = j.checkpoint()
    moves = [(t.trigger, t.source, t.dest) for t in checkpoint.history]
    assert moves[:2] == [("start", "pending", "setup"), ("skip", "setup", "map")]
    assert checkpoint.history[1].reason == "no setup steps"
    assert checkpoint.phases["setup"].status == "skipped"
    assert len(runner.calls) == len(ITEMS)  # only the items ran


@pytest.mark.parametrize("timeout", [90, "2m"])
def test_the_whole_phase_timeout_reaches_the_step_deadline(
    tmp_path: Path, timeout: object
) -> None:
    text = SETUP_WORKFLOW.replace("timeout: 90", f"timeout: {timeout}")
    seconds = 120.0 if timeout == "2m" else 90.0
    runner = RecordingRunner(scripted_steps(OUTPUTS))
    before = time.monotonic()
    assert job(tmp_path, text).run(runner).state == "completed"
    after = time.monotonic()
    setup_context = runner.contexts[0]
    assert setup_context.deadline is not None
    assert before + seconds <= setup_context.deadline <= after + seconds
    assert setup_context.deadline_name == "setup's time limit"  # what a timeout will say
    assert setup_context.env["GREETING"] == "hello"
    assert setup_context.env["JOB_ID"] == "job-1"
    assert setup_context.cwd == tmp_path.resolve()


def test_no_timeout_means_no_deadline(tmp_path: Path) -> None:
    runner = RecordingRunner(scripted_steps(OUTPUTS))
    text = SETUP_WORKFLOW.replace("  timeout: 90\n", "")
    assert job(tmp_path, text).run(runner).state == "completed"
    assert runner.contexts[0].deadline is None


@pytest.mark.parametrize("verbose", [False, True])
def test_each_line_is_shown_once_and_stderr_of_a_failed_step_with_or_without_v(
    tmp_path: Path, verbose: bool
) -> None:
    interaction = ScriptedInteraction()
    runner = FakeRunner(scripted_steps(OUTPUTS, failing={"stats"}))
    result = job(tmp_path).run(runner, interaction=interaction,
                               options=RunOptions(show_step_stderr=verbose))
    assert result.state == "failed"
    shown = [text for level, text in interaction.messages if level == "info"]
    assert shown == [
        "[setup 1/3] items.json",
        '[setup 2/3] {"owner": {"login": "ada"},',
        '[setup 2/3]  "note": "count=42"}',
        "[setup 2/3] stats broke",  # live with -v, else when the step has failed
    ]


def test_setup_output_is_shown_and_each_step_is_an_event(tmp_path: Path) -> None:
    j = job(tmp_path)
    interaction = ScriptedInteraction()
    result = j.run(FakeRunner(scripted_steps(OUTPUTS)), interaction=interaction)
    assert result.state == "completed"
    assert ("info", "[setup 3/3] v1.2") in interaction.messages
    events = [json.loads(line) for line in
              (j.store().path / "events.jsonl").read_text().splitlines()]
    finished = [e["data"]["step"] for e in events
                if e["type"] == "step.finished" and e["phase"] == "setup"]
    assert finished == ["list", "stats", "version"]
