"""The config model checks its fields when built from Python, with the rules the loader reports."""
# ruff: noqa: E501

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.config import load_workflow, load_workflow_text
from mapreduce_fsm.config.model import (
    Backoff,
    CaptureSpec,
    CircuitBreakerConfig,
    CustomPhaseConfig,
    ErrorPolicy,
    MapConfig,
    OnFailure,
    ReduceConfig,
    RetryConfig,
    SetupConfig,
    Step,
    Workflow,
    WriteFileSpec,
)
from mapreduce_fsm.convert import converter, describe_structure_error, from_json, to_json

STEP = Step(shell="echo")


def map_config(**fields: Any) -> MapConfig:
    return MapConfig(input="items.json", agent_template=(STEP,), **fields)


BAD_VALUES: list[tuple[Callable[[], object], str]] = [
    (lambda: map_config(max_parallel=0), "MapConfig.max_parallel: expected a whole number ≥ 1, got 0"),
    (lambda: map_config(max_parallel=2.5), "MapConfig.max_parallel: expected a whole number ≥ 1, got 2.5"),
    (lambda: map_config(max_parallel=True), "MapConfig.max_parallel: expected a whole number ≥ 1, got true"),
    (lambda: map_config(offset=-1), "MapConfig.offset: expected a whole number ≥ 0, got -1"),
    (lambda: map_config(max_items=-3), "MapConfig.max_items: expected a whole number ≥ 0, got -3"),
    (lambda: map_config(agent_timeout_secs=-5.0),
     "MapConfig.agent_timeout_secs: expected a duration in seconds greater than 0, got -5.0"),
    (lambda: map_config(agent_timeout_secs="2m"),
     'MapConfig.agent_timeout_secs: expected a duration in seconds greater than 0, got "2m"'),
    (lambda: MapConfig(input=" ", agent_template=(STEP,)),
     'MapConfig.input: expected a non-empty string, got " "'),
    (lambda: Step(shell="echo", timeout=0), "Step.timeout: expected a duration in seconds greater than 0, got 0"),
    (lambda: Step(shell="echo", timeout=float("inf")), "Step.timeout: expected a duration in seconds"),
    (lambda: Step(shell="echo", capture_format="xml"),  # type: ignore[arg-type]
     'Step.capture_format: expected one of string, json, lines, number, boolean, got "xml"'),
    (lambda: Step(shell="echo", capture_output="not a name"),
     'Step.capture_output: expected true, false or a variable name, got "not a name"'),
    (lambda: Step(shell="echo", max_output_bytes=0), "Step.max_output_bytes: expected a whole number ≥ 1"),
    (lambda: OnFailure(max_attempts=0), "OnFailure.max_attempts: expected a whole number ≥ 1, got 0"),
    (lambda: RetryConfig(max_attempts=0), "RetryConfig.max_attempts: expected a whole number ≥ 1, got 0"),
    (lambda: RetryConfig(max_delay=-1.0), "RetryConfig.max_delay: expected a number of seconds ≥ 0, got -1.0"),
    (lambda: Backoff(initial=float("nan")), "Backoff.initial: expected a number of seconds ≥ 0, got .nan"),
    (lambda: Backoff(kind="quadratic"),  # type: ignore[arg-type]
     'Backoff.kind: expected one of exponential, linear, fixed, fibonacci, got "quadratic"'),
    (lambda: Backoff(multiplier=0.0), "Backoff.multiplier: expected a number greater than 0, got 0.0"),
    (lambda: ErrorPolicy(failure_threshold=0.0),
     "ErrorPolicy.failure_threshold: expected a number greater than 0 and at most 1, got 0.0"),
    (lambda: ErrorPolicy(failure_threshold=1.5),
     "ErrorPolicy.failure_threshold: expected a number greater than 0 and at most 1, got 1.5"),
    (lambda: ErrorPolicy(max_failures=0), "ErrorPolicy.max_failures: expected a whole number ≥ 1, got 0"),
    (lambda: ErrorPolicy(on_item_failure="explode"),  # type: ignore[arg-type]
     'ErrorPolicy.on_item_failure: expected one of dlq, retry, skip, stop, got "explode"'),
    (lambda: CircuitBreakerConfig(timeout=-1), "CircuitBreakerConfig.timeout: expected a number of seconds ≥ 0"),
    (lambda: CircuitBreakerConfig(half_open_requests=0), "CircuitBreakerConfig.half_open_requests"),
    (lambda: CaptureSpec(command_index=-1), "CaptureSpec.command_index: expected a whole number ≥ 0"),
    (lambda: CaptureSpec(command_index=0, source="stdin"),  # type: ignore[arg-type]
     'CaptureSpec.source: expected one of stdout, stderr, both, got "stdin"'),
    (lambda: SetupConfig(timeout=-1), "SetupConfig.timeout: expected a duration in seconds"),
    (lambda: ReduceConfig(confirm="sometimes"),  # type: ignore[arg-type]
     'ReduceConfig.confirm: expected one of on_failure, always, never, got "sometimes"'),
    (lambda: WriteFileSpec(path="out.txt", content="x", mode="rwx"),
     'WriteFileSpec.mode: expected an octal mode in quotes such as "0644", got "rwx"'),
    (lambda: CustomPhaseConfig(name="", type="x"), 'CustomPhaseConfig.name: expected a non-empty string'),
    (lambda: Workflow(name="wf", map=map_config(), mode="batch"),  # type: ignore[arg-type]
     'Workflow.mode: expected one of mapreduce, got "batch"'),
]


@pytest.mark.parametrize(("build", "message"), BAD_VALUES)
def test_building_the_model_with_a_bad_value_raises_a_value_error(
    build: Callable[[], object], message: str,
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        build()


def test_good_values_and_none_where_optional_build() -> None:
    config = map_config(max_parallel=1, offset=0, max_items=None, agent_timeout_secs=0.5)
    assert (config.max_parallel, config.max_items, config.agent_timeout_secs) == (1, None, 0.5)
    assert ErrorPolicy(failure_threshold=1).failure_threshold == 1
    assert Step(shell="echo", capture_output="COUNT").capture_output == "COUNT"


def test_the_loader_and_the_model_say_the_same_about_one_value() -> None:
    text = ("name: wf\nmap:\n  input: items.json\n  max_parallel: 0\n"
            "  agent_template:\n    - shell: echo\n")
    with pytest.raises(Exception) as from_yaml:
        load_workflow_text(text, filename="wf.yml", environ={})
    with pytest.raises(ValueError) as from_python:
        map_config(max_parallel=0)
    yaml_problem = str(from_yaml.value).split("map.max_parallel: ", 1)[1].strip()
    assert str(from_python.value) == f"MapConfig.max_parallel: {yaml_problem}"


def test_structuring_the_model_with_the_job_converter_runs_the_rules() -> None:
    data = {"name": "wf", "map": {"input": "items.json", "agent_template": [{"shell": "echo"}],
                                  "max_parallel": 0}}
    with pytest.raises(Exception) as caught:
        converter.structure(data, Workflow)
    assert "MapConfig.max_parallel: expected a whole number ≥ 1, got 0" in (
        describe_structure_error(caught.value))  # type: ignore[arg-type]


def test_a_loaded_workflow_round_trips_through_the_one_converter() -> None:
    fixture = Path(__file__).parent / "fixtures" / "format_example.yml"
    workflow = load_workflow(fixture, environ={"PATH": "/nonexistent", "WORKERS": "4",
                                               "GITHUB_TOKEN": "x"})
    assert from_json(to_json(workflow), Workflow) == workflow
