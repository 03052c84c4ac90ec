"""Files that once crashed or stalled the loader: each now gives a file:line WorkflowFileError."""

from __future__ import annotations

import itertools
import time

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.yamlsource import MAX_ALIAS_REPEATS
from mapreduce_fsm.errors import WorkflowFileError

NO_CLAUDE = {"PATH": "/nonexistent"}
HEADER = "name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n"


def alias_bomb(levels: int = 9, prefix: str = "") -> str:
    """"Billion laughs": each level a list of 10 aliases to the one before, 10**levels leaves."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f"{prefix}{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * 10) + "]"]
    for previous, current in itertools.pairwise(names[:levels]):
        lines.append(f"{prefix}{current}: &{current} [" + ", ".join([f"*{previous}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def issues_of(text: str) -> list[str]:
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    return [str(issue) for issue in caught.value.issues]


def test_an_alias_bomb_is_refused_at_once_naming_the_file_and_line() -> None:
    text = HEADER + alias_bomb()
    assert len(text) < 530  # half a kilobyte that expands to a billion strings
    started = time.monotonic()
    issues = issues_of(text)
    elapsed = time.monotonic() - started
    assert issues == [
        f"wf.yml:10: the aliases in this file repeat more than {MAX_ALIAS_REPEATS:,} values; "
        "a workflow that shares step lists through anchors needs a few hundred (is this a "
        "YAML alias bomb?)"]
    assert elapsed < 5.0  # about a millisecond; it took 35 s and 3.4 GB before


def test_anchors_shared_by_many_steps_still_load() -> None:
    steps = "\n".join(f"      - shell: step {index}\n        timeout: 10" for index in range(20))
    text = ("name: wf\nsetup:\n  commands: &steps\n" + steps + "\n"
            "map:\n  input: items.json\n  agent_template: *steps\n"
            "reduce:\n  commands: *steps\n")
    workflow = load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    assert workflow.reduce is not None and workflow.setup is not None
    assert len(workflow.map.agent_template) == len(workflow.reduce.commands) == 20
    assert workflow.setup.commands == workflow.map.agent_template


def test_aliases_nested_four_levels_deep_are_read() -> None:
    # 10 aliases of a 11-node list, then 10 of 111 nodes, 10 of 1111: 12,330 values repeated
    assert MAX_ALIAS_REPEATS > 12_330
    text = HEADER + alias_bomb(4, prefix="x_")
    assert issues_of(text) == [f"wf.yml:{line} x_{key}: unknown key"
                               for line, key in zip(range(6, 10), "abcd", strict=True)]


@pytest.mark.parametrize(("character", "column"), [("\x01", 9), ("\x00", 9), ("\x7f", 9),
                                                    ("\ufffe", 9)])
def test_a_control_character_names_its_line_and_column(character: str, column: int) -> None:
    text = HEADER.replace("wf\n", "wf" + character + "\n", 1)
    code = f"#x{ord(character):04x}"
    assert issues_of(text) == [f"wf.yml:1:{column}: invalid YAML: unacceptable character "
                               f"{code}: special characters are not allowed"]


def test_a_control_character_on_a_later_line() -> None:
    text = HEADER.replace("- shell: echo", "- shell: ec\x1bho")
    assert issues_of(text) == ["wf.yml:5:16: invalid YAML: unacceptable character #x001b: "
                               "special characters are not allowed"]


@pytest.mark.parametrize(("value", "message"), [
    ("!!timestamp not-a-date", '"not-a-date" is not a valid timestamp'),
    ("!!timestamp", '"" is not a valid timestamp'),
    ("!!bool maybe", '"maybe" is not a valid bool'),
    ("!!int", '"" is not a valid int'),
    ("!!int +", '"+" is not a valid int'),
    ("!!float", '"" is not a valid float'),
])
def test_a_scalar_its_tag_cannot_read_is_an_issue_at_its_line(value: str, message: str) -> None:
    assert issues_of(HEADER.replace("name: wf", f"name: {value}")) == [
        f"wf.yml:1 name: {message}"]


def test_a_bad_tagged_scalar_used_twice_through_an_alias_is_reported_once() -> None:
    text = HEADER.replace("name: wf", "name: &bad !!bool maybe") + "env: {X: *bad}\n"
    assert issues_of(text) == ['wf.yml:1 name: "maybe" is not a valid bool']


def test_a_null_custom_phase_type_is_reported() -> None:
    assert issues_of(HEADER + "custom_phases: [{type: null}]\n") == [
        "wf.yml:6 custom_phases[0].type: expected a string, got null"]


def test_deep_flow_nesting_is_refused_at_its_column_at_once() -> None:
    started = time.monotonic()
    issues = issues_of(HEADER + "env: " + "[" * 100_000 + "\n")
    elapsed = time.monotonic() - started
    assert issues == ["wf.yml:6:106: the YAML is nested more than 100 levels deep (a workflow "
                      "needs a few levels, not hundreds)"]
    assert elapsed < 5.0  # milliseconds; PyYAML's scanner took 3.5 s to overflow the stack


def test_options_nested_ninety_levels_deep_are_read() -> None:
    text = (HEADER + "custom_phases:\n  - type: verify\n    options:\n      deep: "
            + "[" * 90 + "]" * 90 + "\n")
    workflow = load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    value = workflow.custom_phases[0].options["deep"]
    for _ in range(89):
        (value,) = value
    assert value == []


def test_a_key_after_a_merge_key_overrides_the_merged_value() -> None:
    text = ("name: wf\nenv: &base {A: a, B: b}\nmap:\n  input: items.json\n  agent_template:\n"
            "    - shell: echo\n      env: &step {<<: *base, B: c}\n"
            "    - shell: echo\n      env: *step\n")
    workflow = load_workflow_text(text, filename="wf.yml", environ=NO_CLAUDE)
    assert [dict(step.env) for step in workflow.map.agent_template] == [{"A": "a", "B": "c"}] * 2


def test_a_key_set_twice_after_a_merge_key_is_still_a_duplicate() -> None:
    text = HEADER.replace("name: wf", "name: wf\nenv: &base {A: a}") + "reduce:\n  - shell: x\n" \
        "    env: {<<: *base, B: b, B: c}\n"
    assert issues_of(text) == ["wf.yml:9 reduce[0].env.B: duplicate key; it is already set on "
                               "line 9"]
