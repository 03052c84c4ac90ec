"""Properties: valid workflows round-trip through YAML; junk only gives WorkflowFileError."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.config.model import OnFailure, Step
from mapreduce_fsm.errors import WorkflowFileError

ENVIRON = {"PATH": "/nonexistent"}
commands = st.text(alphabet="abcdefghij -_./|><'\"", min_size=1, max_size=20).filter(
    lambda text: text.strip() != "" and not text.startswith("/"))
durations = st.one_of(
    st.tuples(st.integers(1, 3600), st.just(None)),
    st.tuples(st.integers(1, 90), st.sampled_from(["s", "m", "h", "ms"])),
)
_UNIT = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "ms": 0.001}
on_failures = st.one_of(
    st.none(), st.just(True), commands, st.lists(commands, min_size=1, max_size=3),
    st.builds(lambda shell, attempts, retry: {"shell": shell, "max_attempts": attempts,
                                              "retry_original": retry},
              commands, st.integers(1, 5), st.booleans()),
)


def expected_on_failure(form: Any) -> OnFailure | None:
    if form is None:
        return None
    if form is True:
        return OnFailure(ignore=True)
    if isinstance(form, str):
        return OnFailure(handlers=(Step(shell=form),))
    if isinstance(form, list):
        return OnFailure(handlers=tuple(Step(shell=command) for command in form))
    return OnFailure(handlers=(Step(shell=form["shell"]),), max_attempts=form["max_attempts"],
                     retry_original=form["retry_original"])


@st.composite
def workflows(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid workflow as data, and what the loaded model should hold."""
    steps, expected_steps = [], []
    for _ in range(draw(st.integers(1, 3))):
        shell, (amount, unit), on_failure = draw(commands), draw(durations), draw(on_failures)
        raw: dict[str, Any] = {"shell": shell, "timeout": amount if unit is None else
                               f"{amount}{unit}"}
        if on_failure is not None:
            raw["on_failure"] = on_failure
        steps.append(raw)
        expected_steps.append(Step(shell=shell, timeout=amount * _UNIT[unit],
                                   on_failure=expected_on_failure(on_failure)))
    parallel = draw(st.integers(1, 64))
    use_variable = draw(st.booleans())
    data: dict[str, Any] = {
        "name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)),
        "env": {"WORKERS": parallel},
        "map": {"input": draw(commands), "offset": draw(st.integers(0, 100)),
                "max_parallel": "$WORKERS" if use_variable else parallel,
                "agent_template": steps},
    }
    policy = draw(st.sampled_from(["dlq", "retry", "skip", "stop"]))
    data["error_policy" if draw(st.booleans()) else "_top"] = {"on_item_failure": policy}
    data.update(data.pop("_top", {}))
    expected = {"name": data["name"], "input": data["map"]["input"],
                "offset": data["map"]["offset"], "max_parallel": parallel,
                "steps": tuple(expected_steps), "policy": policy}
    return data, expected


@settings(max_examples=150, deadline=None)
@given(workflows())
def test_generated_workflows_load_as_expected(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    data, expected = case
    workflow = load_workflow_text(yaml.safe_dump(data), environ=ENVIRON)
    assert workflow.name == expected["name"]
    assert workflow.map.input == expected["input"]
    assert workflow.map.offset == expected["offset"]
    assert workflow.map.max_parallel == expected["max_parallel"]
    assert workflow.map.agent_template == expected["steps"]
    assert workflow.error_policy.on_item_failure == expected["policy"]


junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
              st.text(max_size=8), st.sampled_from(["$X", "${item}", "1s", "/x", "shell"])),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["shell", "claude", "commands", "input", "timeout",
                                         "on_failure", "backoff", "name", "env", "x"]),
                        children, max_size=3)),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid workflow with one value, anywhere in it, replaced by junk."""
    data, _ = draw(workflows())
    node: Any = data
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or draw(st.booleans()):
            node[key] = draw(junk)
            break
        node = node[key]
    return data


def _loads_or_reports(text: str) -> None:
    try:
        load_workflow_text(text, environ=ENVIRON)
    except WorkflowFileError as error:
        assert error.issues
        assert all(str(issue) for issue in error.issues)


@settings(max_examples=200, deadline=None)
@given(st.one_of(junk, mutated()))
def test_junk_never_raises_anything_but_workflow_file_error(data: Any) -> None:
    _loads_or_reports(yaml.safe_dump(data))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="name:map input{}[]-,'\"&*!|>\n #$", max_size=60))
def test_random_text_never_raises_anything_but_workflow_file_error(text: str) -> None:
    _loads_or_reports(text)
