"""Valid workflow files load into the expected normalised model (docs/workflow-format.md §1–§2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mapreduce_fsm.config import (
    describe_workflow,
    load_workflow,
    load_workflow_text,
    parse_duration,
)
from mapreduce_fsm.config.model import Backoff, CaptureSpec, OnFailure, SecretSpec, Step, Workflow

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).parents[2] / "mapreduce_fsm" / "examples" / "word_stats.yml"
# Stands in for the Claude Code program: any program that exists will do for validation.
CLAUDE = {"PATH": "", "MAPREDUCE_FSM_CLAUDE": sys.executable}


def load(body: str, *, environ: dict[str, str] | None = None, template: str = "- shell: echo\n"
         ) -> Workflow:
    indented = "".join(f"    {line}\n" for line in template.splitlines())
    text = f"name: wf\nmap:\n  input: items.json\n  agent_template:\n{indented}{body}"
    return load_workflow_text(text, filename="wf.yml", environ=environ or CLAUDE)


def step(yaml_step: str) -> Step:
    return load("", template=yaml_step).map.agent_template[0]


def test_format_example_loads_as_written() -> None:
    workflow = load_workflow(FIXTURES / "format_example.yml", environ=CLAUDE)
    assert workflow.name == "word-stats"
    assert workflow.source_path == str(FIXTURES / "format_example.yml")
    assert workflow.env == {"OUT": "out"}
    assert workflow.secrets == {"API_TOKEN": SecretSpec(key="API_TOKEN")}
    assert workflow.setup is not None and workflow.setup.timeout == 120.0
    assert workflow.setup.capture_outputs == {"doc_count": CaptureSpec(
        command_index=0, source="stdout", pattern="(\\d+)", default="0")}
    config = workflow.map
    assert (config.max_parallel, config.max_items, config.offset) == (8, 100, 0)
    assert config.agent_timeout_secs == 300.0 and config.id_field == "path"
    assert config.agent_template[0].timeout == 30.0
    assert config.agent_template[1].on_failure == OnFailure(
        handlers=(Step(shell="echo empty ${item} >&2"),))
    assert workflow.reduce is not None and len(workflow.reduce.commands) == 2
    policy = workflow.error_policy
    assert (policy.max_failures, policy.failure_threshold) == (10, 0.2)
    assert policy.retry_config is not None
    assert policy.retry_config.backoff == Backoff(kind="exponential", initial=1.0, multiplier=2)
    assert (policy.retry_config.max_delay, policy.retry_config.jitter) == (30.0, True)
    assert policy.circuit_breaker is not None and policy.circuit_breaker.timeout == 30.0
    assert describe_workflow(workflow) == ("word-stats: valid — setup 1 step, map 2 steps over "
                                           "items.json (max_parallel 8), reduce 2 steps")


def test_bundled_example_is_valid() -> None:
    workflow = load_workflow(EXAMPLE, environ=CLAUDE)
    assert describe_workflow(workflow).startswith("word-stats: valid — setup 2 steps, map 2 steps")


@pytest.mark.parametrize(("value", "seconds"), [
    (5, 5.0), (1.5, 1.5), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5),
    ("30", 30.0),
])
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -1, "", "soon", "5 minutes", True, None, [1], "1d"])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


@pytest.mark.parametrize(("form", "expected"), [
    ("true", OnFailure(ignore=True)),
    ("false", None),
    ('"echo fix"', OnFailure(handlers=(Step(shell="echo fix"),))),
    ('"/fix-it ${error.message}"', OnFailure(handlers=(Step(claude="/fix-it ${error.message}"),))),
    ('["echo a", "echo b"]', OnFailure(handlers=(Step(shell="echo a"), Step(shell="echo b")))),
    ("{shell: fix, max_attempts: 3, retry_original: true, fail_workflow: false}",
     OnFailure(handlers=(Step(shell="fix"),), max_attempts=3, retry_original=True)),
    ("{shell: fix, timeout: 2m, fail_workflow: true}",
     OnFailure(handlers=(Step(shell="fix", timeout=120.0),), fail_workflow=True)),
    ('{shell: "echo ${error.exit_code} ${error.step}", name: report}',
     OnFailure(handlers=(Step(shell="echo ${error.exit_code} ${error.step}", name="report"),))),
])
def test_on_failure_forms(form: str, expected: OnFailure | None) -> None:
    assert step(f"- shell: run\n  on_failure: {form}").on_failure == expected


def test_step_modifiers() -> None:
    loaded = step("- shell: echo ${item.path}\n  name: show\n  timeout: 1.5s\n  env: {N: 3, F: "
                  "true, R: 1.50}\n  working_dir: ${item.dir}\n  when: \"${item.size} > 3\"\n"
                  "  capture_output: size\n  capture_format: number\n  max_output_bytes: 100\n"
                  "  on_success: /celebrate")
    assert loaded == Step(shell="echo ${item.path}", name="show", timeout=1.5,
                          env={"N": "3", "F": "true", "R": "1.50"}, working_dir="${item.dir}",
                          when="${item.size} > 3", capture_output="size",
                          capture_format="number", max_output_bytes=100,
                          on_success=Step(claude="/celebrate"))


def test_write_file_step() -> None:
    loaded = step("- write_file: {path: 'out/${item_id}.json', content: {id: '${item_id}'}, "
                  "format: json, mode: \"0644\", create_dirs: true}")
    assert loaded.write_file is not None
    assert (loaded.write_file.path, loaded.write_file.format) == ("out/${item_id}.json", "json")
    assert loaded.write_file.content == {"id": "${item_id}"}
    assert (loaded.write_file.mode, loaded.write_file.create_dirs) == ("0644", True)


def test_setup_list_form_and_object_form_agree() -> None:
    listed = load("setup:\n  - shell: make items\n")
    detailed = load("setup:\n  commands:\n    - shell: make items\n")
    assert listed.setup == detailed.setup
    assert listed.setup is not None and listed.setup.commands == (Step(shell="make items"),)


def test_capture_outputs_short_and_detailed() -> None:
    workflow = load("setup:\n  commands: [{shell: a}, {shell: b}]\n  capture_outputs:\n"
                    "    first: 0\n    second: {command_index: 1, source: stderr, json_path: "
                    "'$.n', multiline: last_line, default: 7}\n")
    assert workflow.setup is not None
    assert workflow.setup.capture_outputs == {
        "first": CaptureSpec(command_index=0),
        "second": CaptureSpec(command_index=1, source="stderr", json_path="$.n",
                              multiline="last_line", default="7")}


def test_old_agent_template_form() -> None:
    text = "name: wf\nmap:\n  input: i.json\n  agent_template:\n    commands:\n      - shell: a\n"
    assert load_workflow_text(text).map.agent_template == (Step(shell="a"),)


def test_reduce_object_form() -> None:
    workflow = load("reduce:\n  commands:\n    - shell: echo ${map.total}\n"
                    "  when: \"${map.failed} == 0\"\n  confirm: never\n")
    assert workflow.reduce is not None
    assert workflow.reduce.commands == (Step(shell="echo ${map.total}"),)
    assert (workflow.reduce.when, workflow.reduce.confirm) == ("${map.failed} == 0", "never")


def test_policy_keys_at_top_level_and_nested_agree() -> None:
    top = load("on_item_failure: retry\nmax_failures: 4\nretry_config: {backoff: fibonacci}\n")
    nested = load("error_policy:\n  on_item_failure: retry\n  max_failures: 4\n"
                  "  retry_config: {backoff: fibonacci}\n")
    assert top.error_policy == nested.error_policy
    assert top.error_policy.retry_config is not None
    assert top.error_policy.retry_config.backoff == Backoff(kind="fibonacci")


@pytest.mark.parametrize(("form", "expected"), [
    ("exponential", Backoff(kind="exponential")),
    ("{exponential: {initial: 2s, multiplier: 3}}", Backoff(initial=2.0, multiplier=3.0)),
    ("{linear: {initial: 1m, increment: 5}}", Backoff(kind="linear", initial=60.0, increment=5)),
    ("{fixed: {delay: 500ms}}", Backoff(kind="fixed", initial=0.5)),
    ("{fibonacci: {initial: 1}}", Backoff(kind="fibonacci", initial=1.0)),
    # Huge but finite is allowed: the delay is capped at max_delay and a day anyway.
    ("{exponential: {multiplier: 1.0e+300}}", Backoff(multiplier=1e300)),
])
def test_backoff_forms(form: str, expected: Backoff) -> None:
    workflow = load(f"retry_config:\n  backoff: {form}\n")
    assert workflow.error_policy.retry_config is not None
    assert workflow.error_policy.retry_config.backoff == expected


def test_variables_resolve_from_env_then_environment() -> None:
    workflow = load("env:\n  WORKERS: 6\nmax_failures: ${FAILS}\n"
                    "circuit_breaker: {timeout: $WAIT}\n",
                    environ={**CLAUDE, "FAILS": "9", "WAIT": "2m", "WORKERS": "1"},
                    template="- shell: echo\n  max_output_bytes: $WORKERS")
    assert workflow.map.agent_template[0].max_output_bytes == 6
    assert workflow.error_policy.max_failures == 9
    assert workflow.error_policy.circuit_breaker is not None
    assert workflow.error_policy.circuit_breaker.timeout == 120.0


def test_secrets_and_custom_phases() -> None:
    workflow = load("secrets:\n  TOKEN: {env: API_TOKEN}\n  PLAIN: HUNTER_VAR\n"
                    "  KEYFILE: {provider: file, key: ~/.token}\n"
                    "custom_phases:\n  - type: verify\n    after: reduce\n"
                    "    options: {checks: [\"true\"]}\n  - type: notify\n    name: tell_ops\n"
                    "    before: verify\n")
    assert workflow.secrets == {
        "TOKEN": SecretSpec(key="API_TOKEN"),
        "PLAIN": SecretSpec(key="HUNTER_VAR"),  # a plain string names the variable, as Prodigy
        "KEYFILE": SecretSpec(provider="file", key="~/.token")}
    assert [(phase.name, phase.type, phase.after, phase.before)
            for phase in workflow.custom_phases] == [
        ("verify", "verify", "reduce", None), ("tell_ops", "notify", None, "verify")]
    assert workflow.custom_phases[0].options == {"checks": ["true"]}


def test_references_that_are_allowed() -> None:
    workflow = load(
        "env: {OUT: out}\nsecrets: {KEY: {env: K}}\nsetup:\n  - shell: echo ${workflow.name} "
        "${job.id} ${env.OUT} ${env.KEY}\n    capture_output: n\nreduce:\n"
        "  - shell: echo ${map.results[0].item.path} ${map.success_rate} ${n}\n"
        "    on_failure: echo ${error.message} ${last.exit_code}\n"
        "  - shell: echo ${shell.output} ${last.exit_code}\n",
        template="- shell: echo ${item.a.b[0]} ${item_index} ${f} ${map.total:-0} ${setup_thing}")
    assert workflow.reduce is not None and len(workflow.reduce.commands) == 2
