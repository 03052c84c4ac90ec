"""Properties of the filter language over random items: no data ever makes evaluation raise."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.expressions.filter import compile_expression
from mapreduce_fsm.expressions.values import json_equal

FIELDS = ("a", "b", "c", "missing")

scalars = st.none() | st.integers(-5, 5) | st.text(max_size=3) | st.booleans()
values = scalars | st.lists(scalars, max_size=3)
items = st.fixed_dictionaries({}, optional={name: values for name in FIELDS[:3]})

literal_texts = st.sampled_from(["0", "1", "-2", "2.5", "'a'", "''", "null", "true", "[1, 'a']"])
path_texts = st.sampled_from([*FIELDS, "a[0]", "b.c", "item.a", "c[1]"])
operand_texts = literal_texts | path_texts


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["path", "compare", "function", "in"]))
    if kind == "path":
        return draw(path_texts)
    if kind == "compare":
        operator = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{draw(operand_texts)} {operator} {draw(operand_texts)}"
    if kind == "in":
        negated = draw(st.sampled_from(["in", "not in"]))
        return f"{draw(operand_texts)} {negated} {draw(operand_texts)}"
    unary = [
        "is_null",
        "is_not_null",
        "is_number",
        "is_string",
        "is_bool",
        "is_array",
        "is_object",
        "is_empty",
        "length",
    ]
    binary = ["contains", "starts_with", "ends_with", "matches"]
    name = draw(st.sampled_from(unary + binary))
    if name in unary:
        return f"{name}({draw(operand_texts)})"
    return f"{name}({draw(operand_texts)}, {draw(operand_texts)})"


expressions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.builds(lambda e: f"!({e})", inner),
        st.builds(lambda a, b: f"({a}) && ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) || ({b})", inner, inner),
    ),
    max_leaves=6,
)


@given(expressions, items)
def test_evaluation_never_raises_and_negation_inverts(text: str, item: dict[str, Any]) -> None:
    expression = compile_expression(text)
    expression.evaluate(item)
    expression.evaluate(item, item_prefix=True)
    assert compile_expression(f"!({text})").matches(item) is (not expression.matches(item))


@given(expressions, expressions, items)
def test_and_or_agree_with_python(left: str, right: str, item: dict[str, Any]) -> None:
    a, b = compile_expression(left).matches(item), compile_expression(right).matches(item)
    assert compile_expression(f"({left}) && ({right})").matches(item) is (a and b)
    assert compile_expression(f"({left}) || ({right})").matches(item) is (a or b)


@given(st.integers(), st.integers(), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
def test_integer_comparisons_agree_with_python(x: int, y: int, operator: str) -> None:
    python = {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}
    assert compile_expression(f"x {operator} y").matches({"x": x, "y": y}) is python[operator]
    assert compile_expression(f"x {operator} {y}").matches({"x": x}) is python[operator]


# `\b` (backspace) is the one JSON escape the language reads differently: it stays the regex
# word boundary. Everything else `json.dumps` writes must read back as the same value, since
# step `when` expressions receive interpolated values as JSON literals.
json_text = st.text(alphabet=st.characters(blacklist_characters="\b"))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


@given(json_values, st.booleans())
def test_json_literals_read_back_as_the_same_value(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    assert json_equal(compile_expression(text).evaluate(None), value)
    assert compile_expression(f"x == {text}").matches({"x": value})
