"""Workflows written in Prodigy's documented format validate, with each key loaded as meant.

Built from Prodigy's documented examples (the README, "Coming from Prodigy"); the forms
Prodigy's own parser rejects stay rejected, each with a message saying where the key
belongs or how to write it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import (
    CaptureStreams,
    OnIncomplete,
    Profile,
    SecretSpec,
    TimeoutConfig,
    Workflow,
)
from mapreduce_fsm.errors import WorkflowFileError

CLAUDE = {**os.environ, "MAPREDUCE_FSM_CLAUDE": "true"}

PRODIGY_REVIEW = r"""
name: parallel-code-review
mode: mapreduce
env:
  PROJECT_NAME: prodigy
  OUTPUT_DIR: out
env_files:
  - review.env
secrets:
  API_KEY: GITHUB_TOKEN
  DB_PASSWORD: {provider: env, key: DB_PASS}
  SIGNING: {provider: file, key: ~/.signing-key}
profiles:
  ci:
    OUTPUT_DIR: /tmp/ci
    description: "settings for CI"
setup:
  - shell: "find src -name '*.rs' > files.txt"
    capture: file_list
    capture_format: lines
    capture_streams: {stdout: true, stderr: true, exit_code: true, success: true, duration: true}
  - shell: "jq -R -s 'split(\"\n\")[:-1] | map({path: ., priority: 1})' files.txt > items.json"
    commit_required: true
map:
  input: items.json
  json_path: "$[*]"
  filter: "path matches '\\.rs$'"
  max_parallel: 5
  max_items: 10
  timeout_config:
    agent_timeout_secs: 600
    command_timeouts: {claude: 300, shell: 60, claude_1: 900}
    timeout_policy: Hybrid
    cleanup_grace_period_secs: 30
    timeout_action: GracefulTerminate
    enable_monitoring: true
  agent_template:
    - claude: "/review ${item.path} for $PROJECT_NAME"
      commit_required: true
      validate:
        claude: "/validate ${item.path} --output .validation.json"
        result_file: ".validation.json"
        threshold: 90
        on_incomplete:
          claude: "/complete ${validation.gaps}"
          max_attempts: 3
          fail_workflow: false
    - shell: "cargo test"
      capture: "shell.output"
      on_failure:
        claude: "/fix-tests ${shell.output}"
        commit_required: true
        max_attempts: 2
        fail_workflow: false
    - claude: "/polish ${item.path}"
      timeout: 120
reduce:
  - claude: "/summarize ${map.results}"
    capture: summary
  - shell: "echo ${map.successful}/${map.total} ${shell.stderr}"
error_policy:
  on_item_failure: dlq
  continue_on_failure: true
  max_failures: 5
  failure_threshold: 0.2
  error_collection: {batched: {size: 5}}
"""


def load(text: str) -> Workflow:
    return load_workflow_text(text, filename="wf.yml", environ=CLAUDE)


def test_a_documented_prodigy_workflow_loads_with_every_key(tmp_path: Path) -> None:
    (tmp_path / "review.env").write_text("REVIEWER=bot\n")
    workflow = load_workflow_text(PRODIGY_REVIEW, filename=str(tmp_path / "wf.yml"),
                                  environ=CLAUDE)
    assert workflow.env == {"REVIEWER": "bot", "PROJECT_NAME": "prodigy", "OUTPUT_DIR": "out"}
    assert workflow.secrets == {
        "API_KEY": SecretSpec(key="GITHUB_TOKEN"),
        "DB_PASSWORD": SecretSpec(key="DB_PASS"),
        "SIGNING": SecretSpec(provider="file", key="~/.signing-key")}
    assert workflow.profiles == {"ci": Profile(env={"OUTPUT_DIR": "/tmp/ci"},
                                               description="settings for CI")}
    assert workflow.setup is not None
    capture, items = workflow.setup.commands
    assert (capture.capture_output, capture.capture_format) == ("file_list", "lines")
    assert capture.capture_streams == CaptureStreams(stderr=True)
    assert items.commit_required
    config = workflow.map
    assert config.agent_timeout_secs == 600 and config.kill_grace_secs == 30
    assert config.timeout_config == TimeoutConfig(
        command_timeouts={"claude": 300, "shell": 60, "claude_1": 900},
        timeout_policy="hybrid", timeout_action="graceful_terminate")
    review, test, polish = config.agent_template
    # command timeouts folded into the steps: by kind, by kind and index, own timeout first
    assert (review.timeout, test.timeout, polish.timeout) == (300, 60, 120)
    assert review.validate is not None and review.validate.threshold == 90
    incomplete = review.validate.on_incomplete
    assert incomplete is not None
    assert [step.claude for step in incomplete.commands] == ["/complete ${validation.gaps}"]
    assert incomplete == OnIncomplete(commands=incomplete.commands, max_attempts=3,
                                      fail_workflow=False)
    assert test.capture_output == "shell.output"
    assert test.on_failure is not None and test.on_failure.handlers[0].commit_required
    policy = workflow.error_policy
    assert (policy.error_collection, policy.error_batch_size) == ("batched", 5)
    assert (policy.max_failures, policy.failure_threshold) == (5, 0.2)


def test_a_profile_is_applied_over_env_when_chosen(tmp_path: Path) -> None:
    (tmp_path / "review.env").write_text("")
    workflow = load_workflow_text(PRODIGY_REVIEW, filename=str(tmp_path / "wf.yml"),
                                  environ=CLAUDE, profile="ci")
    assert workflow.env["OUTPUT_DIR"] == "/tmp/ci" and workflow.profile == "ci"


@pytest.mark.parametrize(("text", "collection", "size"), [
    ("error_collection: aggregate\n", "aggregate", None),
    ("error_collection: immediate\n", "immediate", None),
    ("error_collection: batched:5\n", "batched", 5),
    ("error_policy:\n  error_collection: immediate\n", "immediate", None),
])
def test_error_collection_forms(text: str, collection: str, size: int | None) -> None:
    workflow = load(f"name: w\n{text}map:\n  input: x.json\n  agent_template:\n"
                    "    - shell: 'true'\n")
    policy = workflow.error_policy
    assert (policy.error_collection, policy.error_batch_size) == (collection, size)


@pytest.mark.parametrize(("policy", "timeouts"), [
    ("PerAgent", (None, None)),  # only the agent's limit
    ("per_command", (300.0, 60.0)),
    ("hybrid", (300.0, 60.0)),
])
def test_timeout_policy_decides_which_limits_apply(
        policy: str, timeouts: tuple[float | None, float | None]) -> None:
    workflow = load("name: w\nmap:\n  input: x.json\n  agent_timeout_secs: 600\n"
                    f"  timeout_config:\n    timeout_policy: {policy}\n"
                    "    command_timeouts: {claude_0: 300, shell: 60}\n"
                    "  agent_template:\n    - claude: /a\n    - shell: b\n")
    config = workflow.map
    assert tuple(step.timeout for step in config.agent_template) == timeouts
    assert config.agent_timeout_secs == (None if policy == "per_command" else 600)


REJECTED = [
    ("env:\n  TOKEN: {secret: true, value: abc}\n",
     "wf.yml:3 env.TOKEN: an env value is a string, not a mapping (Prodigy rejects this form "
     "too); put secret values under secrets: NAME: ENV_VAR"),
    ("error_policy:\n  error_collection: \"batched:5\"\n",
     "wf.yml:3 error_policy.error_collection: \"batched:5\" is the top-level form; inside "
     "error_policy write {batched: {size: 5}} (Prodigy rejects the string here too), or move "
     "it to the top level"),
    ("error_collection: sometimes\n",
     "wf.yml:2 error_collection: expected aggregate, immediate or batched:N, got \"sometimes\""),
    ("secrets:\n  K: {provider: vault, key: a/b}\n",
     "wf.yml:3 secrets.K.provider: secret provider \"vault\" is not supported; use env (an "
     "environment variable) or file (a file holding the secret)"),
]


@pytest.mark.parametrize(("text", "message"), REJECTED)
def test_forms_prodigy_rejects_stay_rejected_with_a_hint(text: str, message: str) -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load(f"name: w\n{text}map:\n  input: x.json\n  agent_template:\n    - shell: 'true'\n")
    assert [str(issue) for issue in caught.value.issues] == [message]


@pytest.mark.parametrize(("key", "hint"), [
    ("error_policy:\n    max_failures: 2", "error_policy belongs at the top level of the file"),
    ("on_item_failure: dlq", "on_item_failure belongs at the top level or under error_policy"),
])
def test_map_keys_prodigy_ignores_name_where_they_belong(key: str, hint: str) -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load(f"name: w\nmap:\n  input: x.json\n  {key}\n  agent_template:\n    - shell: 'true'\n")
    assert [issue.message for issue in caught.value.issues] == [
        f"{hint}, not under map (Prodigy ignores it there silently)"]


@pytest.mark.parametrize(("text", "message"), [
    ("  timeout_config:\n    command_timeouts: {python: 3}\n",
     "expected claude, shell, or a step kind and its index among the steps of that kind"),
    ("  timeout_config:\n    timeout_action: Explode\n",
     "expected one of dlq, skip, fail, graceful_terminate, got \"explode\""),
    ("  timeout_config:\n    timeout_polcy: Hybrid\n", "unknown key, did you mean timeout_policy?"),
])
def test_bad_timeout_config_is_named(text: str, message: str) -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load(f"name: w\nmap:\n  input: x.json\n{text}  agent_template:\n    - shell: 'true'\n")
    assert message in str(caught.value)


def test_env_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("OK=1\n\nnot a pair\n")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow_text("name: w\nenv_files: [a.env, missing.env]\nmap:\n  input: x.json\n"
                           "  agent_template:\n    - shell: 'true'\n",
                           filename=str(tmp_path / "wf.yml"))
    messages = [issue.message for issue in caught.value.issues]
    assert messages[0] == f"{tmp_path / 'a.env'}, line 3: expected NAME=value, got 'not a pair'"
    assert messages[1].startswith(f"cannot read env file {tmp_path / 'missing.env'}")


def test_step_keys_with_typos_still_get_a_hint() -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load("name: w\nmap:\n  input: x.json\n  agent_template:\n"
             "    - shell: 'true'\n      commit_requried: true\n")
    assert "unknown key, did you mean commit_required?" in str(caught.value)


def test_validate_commands_are_checked_like_any_step() -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load("name: w\nmap:\n  input: x.json\n  agent_template:\n    - shell: 'true'\n"
             "      validate:\n        shell: echo ${item.path}\n"
             "        on_incomplete:\n          shell: echo ${map.total}\n")
    assert [issue.path for issue in caught.value.issues] == [
        "map.agent_template[0].validate.on_incomplete.shell"]
