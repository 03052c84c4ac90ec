"""The strict JSON converter: compact lines, exact round trips, no silent coercion."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.convert import converter, describe_structure_error, from_json, to_json
from mapreduce_fsm.state.records import ItemResult

from .strategies import item_results


@attrs.frozen(kw_only=True)
class Sample:
    name: str
    count: int
    ratio: float
    enabled: bool
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)


def sample_json(**changes: object) -> str:
    data: dict[str, object] = {"name": "a", "count": 1, "ratio": 0.5, "enabled": True}
    data.update(changes)
    return json.dumps(data)


@given(item_results(), st.text())
def test_item_results_round_trip_on_one_line(result: ItemResult, output: str) -> None:
    result = attrs.evolve(result, output=output)
    line = to_json(result)
    assert "\n" not in line
    line.encode("utf-8")  # always writable to a UTF-8 file, even with lone surrogates
    assert from_json(line, ItemResult) == result


def test_to_json_is_compact_and_keeps_non_ascii() -> None:
    assert to_json(Sample(name="é", count=1, ratio=1.0, enabled=False, tags=("x",))) == (
        '{"name":"é","count":1,"ratio":1.0,"enabled":false,"tags":["x"],"extra":{}}'
    )


def test_a_whole_number_is_accepted_for_a_float() -> None:
    assert from_json(sample_json(ratio=2), Sample).ratio == 2.0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": 5}, "$.name: expected a string, got an integer"),
        ({"count": 2.9}, "$.count: expected an integer, got a number"),
        ({"count": True}, "$.count: expected an integer, got a boolean"),
        ({"count": "3"}, "$.count: expected an integer, got a string"),
        ({"ratio": "0.5"}, "$.ratio: expected a number, got a string"),
        ({"enabled": "no"}, "$.enabled: expected true or false, got a string"),
        ({"enabled": 1}, "$.enabled: expected true or false, got an integer"),
        ({"tags": "abc"}, "$.tags: expected an array, got a string"),
        ({"tags": ["a", 1]}, "$.tags[1]: expected a string, got an integer"),
        ({"colour": "red"}, "$: unknown keys colour"),
    ],
)
def test_no_silent_coercion(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(Exception) as caught:
        from_json(sample_json(**changes), Sample)
    assert problem in describe_structure_error(caught.value)


def test_a_missing_field_and_a_non_object() -> None:
    with pytest.raises(Exception) as caught:
        converter.structure({"name": "a"}, Sample)
    assert "$.count: required field missing" in describe_structure_error(caught.value)
    with pytest.raises(TypeError) as not_object:
        from_json("[1]", Sample)
    assert describe_structure_error(not_object.value) == "$: expected an object, got an array"


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        from_json("{", Sample)
