"""The filter language: literals, paths, operators, functions, precedence and error columns."""

from __future__ import annotations

from typing import Any

import pytest

from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.filter import Expression, compile_expression

ITEM = {
    "size": 12,
    "ratio": 0.5,
    "name": "alpha.md",
    "empty": "",
    "none": None,
    "flag": True,
    "tags": ["red", "green"],
    "owner": {"login": "ann", "teams": [{"id": 7}]},
    "content-type": "text",
    "count": 0,
}


def value_of(text: str, root: Any = ITEM, *, item_prefix: bool = False) -> Any:
    return compile_expression(text).evaluate(root, item_prefix=item_prefix)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("2.5", 2.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("'single'", "single"),
        ('"double"', "double"),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r"'\u00e9'", "é"),
        (r"'\d+'", r"\d+"),
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ("[1, 'a', null, [2]]", [1, "a", None, [2]]),
        ("[]", []),
        ('{"a": 1, b: [true]}', {"a": 1, "b": [True]}),
        ("{}", {}),
        (r"'\ud83d\ude00'", "\U0001f600"),
        (r"'a\fb'", "a\fb"),
        (r"'\bword'", r"\bword"),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    assert value_of(text) == expected
    assert type(value_of(text)) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size", 12),
        ("owner.login", "ann"),
        ("tags[0]", "red"),
        ("tags[-1]", "green"),
        ("tags[5]", None),
        ("owner['login']", "ann"),
        ("owner.teams[0].id", 7),
        ("owner.teams[0]['id']", 7),
        ("content-type", "text"),
        ("missing", None),
        ("missing.deeper[3].x", None),
        ("name.length", None),
        ("tags.red", None),
    ],
)
def test_paths_resolve_and_missing_fields_are_null(text: str, expected: Any) -> None:
    assert value_of(text) == expected


def test_item_prefix_is_stripped_only_in_filters_and_only_without_an_item_key() -> None:
    assert value_of("item.size", item_prefix=True) == 12
    assert value_of("item.size") is None  # not a filter: `item` is an ordinary field
    assert value_of("item", "plain string", item_prefix=True) == "plain string"
    own_item = {"item": {"size": 1}, "size": 2}
    assert value_of("item.size", own_item, item_prefix=True) == 1
    assert value_of("item.size", {"item": {"size": 3}}) == 3  # a `when` over variables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size == 12", True),
        ("size == 12.0", True),
        ("size != 12", False),
        ("size == '12'", False),
        ("size != '12'", True),
        ("flag == 1", False),
        ("flag == true", True),
        ("none == null", True),
        ("missing == null", True),
        ("tags == ['red', 'green']", True),
        ("tags == ['green', 'red']", False),
        ("owner == {'teams': [{'id': 7.0}], 'login': 'ann'}", True),
        ("owner == {'login': 'ann'}", False),
        ("size < 13", True),
        ("size <= 12", True),
        ("size > 12", False),
        ("size >= 12", True),
        ("ratio < 1", True),
        ("name > 'a'", True),
        ("name < 'a'", False),
        ("size > '1'", False),
        ("size < '1'", False),
        ("none < 1", False),
        ("none >= 1", False),
        ("missing > 0", False),
        ("tags > 1", False),
        ("flag > false", False),
    ],
)
def test_comparisons(text: str, expected: bool) -> None:
    assert value_of(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size in [1, 12]", True),
        ("size in [1.0, 12.0]", True),
        ("size in ['12']", False),
        ("size not in [1, 2]", True),
        ("size NOT IN [12]", False),
        ("'red' in tags", True),
        ("'pha' in name", True),
        ("'login' in owner", True),
        ("'x' in size", False),
        ("none in [null]", True),
        ("size in [count, size]", True),
    ],
)
def test_in_and_not_in(text: str, expected: bool) -> None:
    assert value_of(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size > 1 && name == 'alpha.md'", True),
        ("size > 1 && name == 'beta'", False),
        ("size > 100 || flag", True),
        ("size > 100 || none", False),
        ("!flag", False),
        ("!none", True),
        ("!!size", True),
        ("size > 1 and flag", True),
        ("size > 100 OR flag", True),
        ("NOT flag", False),
        ("not (size > 100)", True),
    ],
)
def test_boolean_operators_and_their_word_forms(text: str, expected: bool) -> None:
    assert value_of(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # && binds tighter than ||
        ("flag || size > 100 && none", True),
        ("(flag || size > 100) && none", False),
        ("none && size > 100 || flag", True),
        ("none && (size > 100 || flag)", False),
        # ! binds tighter than comparison: (!count) == true
        ("!count == true", True),
        ("!(count == true)", True),
        ("!size == false", True),
        ("!(size == false)", True),
        # comparison binds tighter than && / ||
        ("size == 12 && count == 0", True),
        ("count == 1 || size == 12", True),
        ("!flag || flag", True),
        ("!(flag || flag)", False),
    ],
)
def test_precedence(text: str, expected: bool) -> None:
    assert value_of(text) is expected


def test_not_binds_tighter_than_comparison() -> None:
    # (!size) == false is True; !(size == false) is also True; distinguish with another case:
    # (!count) == 1 is (True == 1) -> False (bools are not numbers); !(count == 1) -> True.
    assert value_of("!count == 1") is False
    assert value_of("!(count == 1)") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is_null(none)", True),
        ("is_null(missing)", True),
        ("is_null(size)", False),
        ("is_not_null(size)", True),
        ("is_not_null(none)", False),
        ("is_number(size)", True),
        ("is_number(ratio)", True),
        ("is_number(flag)", False),
        ("is_number(name)", False),
        ("is_string(name)", True),
        ("is_string(size)", False),
        ("is_bool(flag)", True),
        ("is_bool(count)", False),
        ("is_array(tags)", True),
        ("is_array(owner)", False),
        ("is_object(owner)", True),
        ("is_object(tags)", False),
        ("is_empty(none)", True),
        ("is_empty(empty)", True),
        ("is_empty([])", True),
        ("is_empty(missing)", True),
        ("is_empty(count)", False),
        ("is_empty(tags)", False),
        ("contains(name, 'pha')", True),
        ("contains(name, 'zzz')", False),
        ("contains(tags, 'red')", True),
        ("contains(tags, 'blue')", False),
        ("contains(owner, 'login')", True),
        ("contains(owner, 'ann')", False),
        ("contains(size, 1)", False),
        ("contains(name, 1)", False),
        ("starts_with(name, 'alp')", True),
        ("starts_with(name, 'md')", False),
        ("starts_with(size, '1')", False),
        ("ends_with(name, '.md')", True),
        ("ends_with(name, 'alp')", False),
        ("ends_with(none, '')", False),
        ("length(name) == 8", True),
        ("length(tags) == 2", True),
        ("length(owner) == 2", True),
        ("length(none) == 0", True),
        ("length(missing) == 0", True),
        ("is_null(length(size))", True),
        ("matches(name, '^al.*\\.md$')", True),
        ("matches(name, '\\d')", False),
        ("matches(size, '1')", False),
        ("matches(name, empty)", True),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    assert value_of(text) == expected


def test_matches_with_a_computed_bad_regex_is_false_not_an_error() -> None:
    assert value_of("matches(name, pattern)", {"name": "a(", "pattern": "("}) is False


def test_a_path_used_alone_is_python_truthy() -> None:
    expression = compile_expression("value")
    truthy = [1, -1, "x", [0], {"a": 1}, True, 0.1]
    falsy = [0, 0.0, "", [], {}, False, None]
    assert all(expression.matches({"value": v}) for v in truthy)
    assert not any(expression.matches({"value": v}) for v in falsy)
    assert not expression.matches({})


def test_non_mapping_roots_never_raise() -> None:
    expression = compile_expression("size > 1 && contains(tags, 'a') || item == 'x'")
    for root in ["x", 3, None, [1, 2], True]:
        assert expression.matches(root) is False
    assert expression.matches("x", item_prefix=True) is True


def test_compiled_expressions_are_reusable_values() -> None:
    expression = compile_expression("size > 10")
    assert isinstance(expression, Expression)
    assert expression.source == "size > 10"
    assert [expression.matches({"size": s}) for s in (5, 11, 20, None)] == [
        False,
        True,
        True,
        False,
    ]
    assert compile_expression("size > 10") == expression


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("size > ", "expected a value after '>'", 8),
        ("size >", "expected a value after '>'", 7),
        ("size > && x", "expected a value after '>'", 8),
        ("a && ", "expected a value after '&&'", 6),
        ("a || )", "expected a value after '||'", 6),
        ("x not in", "expected a value after 'not in'", 9),
        ("!", "expected a value after '!'", 2),
        ("lenght(x)", "unknown function 'lenght' (did you mean length?)", 1),
        ("a && frobnicate(x)", "unknown function 'frobnicate' (known: contains,", 6),
        ("name == 'abc", "unterminated string starting", 9),
        ('x == "abc', "unterminated string starting", 6),
        ("(size == 1))", "unexpected ')'", 12),
        ("(size == 1", "expected ')' to close the '(' at column 1", 11),
        ("a < b < c", "comparisons cannot be chained", 7),
        ("a = 1", "unexpected character '=' (did you mean '=='?)", 3),
        ("a & b", "unexpected character '&' (did you mean '&&'?)", 3),
        ("a # b", "unexpected character '#'", 3),
        ("", "the expression is empty", 1),
        ("   ", "the expression is empty", 4),
        ("length(a, b)", "length() takes 1 argument, got 2", 1),
        ("contains(a)", "contains() takes 2 arguments, got 1", 1),
        ("length(x", "unclosed '(' of length()", 7),
        ("x in [1, 2", "unclosed '['", 6),
        ("a.", "expected a field name after '.'", 3),
        ("a[x]", "expected an index or a quoted key after '['", 3),
        ("a[0", "expected ']' to close '['", 4),
        ("a b", "unexpected 'b'", 3),
        ("12abc", "malformed number '12a'", 1),
        ("matches(name, '(')", "invalid regular expression in matches()", 15),
        ("[1 2]", "expected ',' between list elements", 4),
        ("{'a': 1", "unclosed '{'", 1),
        ("{'a' 1}", "expected ':' after an object key", 6),
        ("{1: 2}", "expected a key in '{...}'", 2),
    ],
)
def test_errors_name_the_column(text: str, reason: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    error = caught.value
    assert error.reason.startswith(reason)
    assert error.column == column
    assert error.expression == text
    assert str(error).startswith(f"{error.reason} at column {column} in ")


def test_error_message_reads_as_documented() -> None:
    with pytest.raises(ExpressionError, match=r"^expected a value after '>' at column 7 in "):
        compile_expression("size >")
    with pytest.raises(ExpressionError, match=r"^unterminated string starting at column 5 "):
        compile_expression("x== 'b")


def test_an_expression_nested_hundreds_deep_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("(" * 300 + "a" + ")" * 300)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("!" * 3000 + "a")


def test_a_long_chain_of_and_or_evaluates_without_deep_recursion() -> None:
    chain = compile_expression(" && ".join(["a == 1"] * 5000) + " || b")
    assert chain.matches({"a": 1}) is True
    assert chain.matches({"a": 2, "b": True}) is True
    assert chain.matches({"a": 2}) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"name matches '\.md$'", True),
        (r"name matches '\.rs$'", False),
        ("name matches '^al' && size > 10", True),
        ("!(name matches 'x')", True),
        ("size matches '1'", False),  # not a string: no match, as in the function form
        ("matches matches 'z'", False),  # a field may still be called matches
    ],
)
def test_infix_matches_as_prodigy_workflows_write_it(text: str, expected: bool) -> None:
    assert value_of(text, {**ITEM, "matches": "abc"}) is expected


def test_infix_matches_checks_a_literal_regex_when_compiled() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("name matches '('")
    assert caught.value.reason.startswith("invalid regular expression in matches")
    assert caught.value.column == 14
