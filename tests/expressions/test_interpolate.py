"""Interpolation of `${...}` (docs/workflow-format.md section 3) and the references it finds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.commands import (
    KNOWN_NAMESPACES,
    Reference,
    find_references,
    interpolate,
    interpolate_json_literals,
    lookup,
    render_value,
)
from mapreduce_fsm.errors import InterpolationError

VARIABLES: dict[str, Any] = {
    "item": {
        "name": "report.md",
        "size": 42,
        "path": "docs/report.md",
        "tags": ["draft", "urgent"],
        "owner": {"login": "ada", "id": 7},
        "nothing": None,
        "first name": "Ada",
    },
    "map": {"total": 3, "results": [{"output": "a"}, {"output": "b"}, {"output": "c"}]},
    "OUT": "out",
    "count": 5,
    "empty": "",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${OUT}", "out"),
        ("${item.name}", "report.md"),
        ("${item.owner.login}", "ada"),
        ("${item.tags[0]}", "draft"),
        ("${item.tags[-1]}", "urgent"),
        ("${map.results[2].output}", "c"),
        ('${item["first name"]}', "Ada"),
        ("${item['first name']}", "Ada"),
        ("${count}/${map.total}", "5/3"),
        ("a${OUT}b${OUT}c", "aoutbout" + "c"),
    ],
)
def test_paths_and_indexes_resolve(template: str, expected: str) -> None:
    assert interpolate(template, VARIABLES) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${item.missing:-fallback}", "fallback"),
        ("${item.nothing:-was null}", "was null"),
        ("${item.name:-unused}", "report.md"),
        ("${empty:-unused}", ""),  # an empty string is a value, not missing
        ("${item.missing:-}", ""),
        ("${map.nope:-${OUT}/x}", "out/x"),  # a default is interpolated too
        ("${item.missing:-{}}", "{}"),
        ("${job.id:-local}", "local"),  # a namespace absent here takes the default
    ],
)
def test_defaults_apply_to_missing_or_null_values(template: str, expected: str) -> None:
    assert interpolate(template, VARIABLES) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${item.name|sh}", "report.md"),
        ("${item.owner|sh}", """'{"login":"ada","id":7}'"""),
        ("${empty|sh}", "''"),
        ("${item.owner|json}", '{"login":"ada","id":7}'),
        ("${item.name|json}", '"report.md"'),
        ("${item.nothing|json}", "null"),
        ("${item.name|json|sh}", """'"report.md"'"""),
        ("${item.missing:-a b|sh}", "'a b'"),
    ],
)
def test_filters(template: str, expected: str) -> None:
    assert interpolate(template, VARIABLES) == expected


def test_json_filter_keeps_unicode() -> None:
    assert interpolate("${x|json}", {"x": {"k": "café ✓"}}) == '{"k":"café ✓"}'


@pytest.mark.parametrize(
    "template",
    [
        "echo $OUT $1 $$ $(date) $@ $*",
        "for f in *.md; do echo ${f}; done",
        "echo ${HOME:-/tmp} ${#arr[@]} ${f%%.*} ${f/a/b}",
        "awk '{print $1}'",
        "echo ${unknown.field} ${unknown|sh}",
        "trailing $",
        "unclosed ${item.name",
    ],
)
def test_shell_syntax_and_unknown_names_are_left_as_written(template: str) -> None:
    assert interpolate(template, VARIABLES) == template


def test_reference_nested_in_a_shell_expansion_is_still_replaced() -> None:
    assert interpolate("${HOME:-${OUT}}", VARIABLES) == "${HOME:-out}"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("text", "text"),
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ([1, "a", None], '[1,"a",null]'),
        ({"a": [1, 2], "b": {"c": True}}, '{"a":[1,2],"b":{"c":true}}'),
        ("", ""),
    ],
)
def test_render_value_of_each_type(value: Any, rendered: str) -> None:
    assert render_value(value) == rendered
    assert interpolate("${v}", {"v": value}) == rendered


def test_missing_field_names_step_path_and_existing_fields() -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate("wc ${item.nmae}", VARIABLES, where='step "count words"')
    assert str(caught.value) == (
        'step "count words": ${item.nmae} does not exist; '
        "item has: name, size, path, tags, owner, nothing, first name"
    )


def test_missing_nested_field_lists_the_deepest_level_reached() -> None:
    with pytest.raises(InterpolationError, match=r"\$\{item\.owner\.lgin\} does not exist; "
                       r"item\.owner has: login, id$"):
        interpolate("${item.owner.lgin}", VARIABLES)


def test_index_out_of_range_says_the_length() -> None:
    with pytest.raises(InterpolationError, match=r"\$\{item\.tags\[5\]\} does not exist; "
                       r"item\.tags has 2 elements"):
        interpolate("${item.tags[5]}", VARIABLES, where='step "x"')


def test_field_of_a_scalar_says_what_the_value_is() -> None:
    with pytest.raises(InterpolationError, match=r"item\.name is a string, not an object"):
        interpolate("${item.name.first}", VARIABLES)


def test_known_namespace_absent_in_this_phase_is_an_error() -> None:
    with pytest.raises(InterpolationError, match=r"\$\{error\.message\} does not exist; "
                       r"there are no error variables here"):
        interpolate("${error.message}", VARIABLES)


def test_field_of_a_known_top_level_variable_is_an_error() -> None:
    with pytest.raises(InterpolationError, match=r"count is a number"):
        interpolate("${count.x}", VARIABLES)


def test_unknown_filter_is_an_error() -> None:
    with pytest.raises(InterpolationError, match="unknown filter 'upper'"):
        interpolate("${item.name|upper}", VARIABLES, where='step "s"')


def test_raw_filter_renders_the_value_unchanged_outside_shell_steps() -> None:
    """`|raw` only matters in `shell` steps; a prompt or file gets the plain rendering."""
    variables = {"code": "rm -rf '$(x)'", "tags": ["a", "b"]}
    assert interpolate("${code|raw} ${tags|raw}", variables) == 'rm -rf \'$(x)\' ["a","b"]'


def test_every_namespace_is_known() -> None:
    assert {"item", "map", "setup", "shell", "error", "workflow", "job", "env", "last"} == set(
        KNOWN_NAMESPACES
    )
    for namespace in KNOWN_NAMESPACES:
        with pytest.raises(InterpolationError):
            interpolate(f"${{{namespace}.x}}", {})


def test_lookup_returns_raw_values_and_raises_on_missing() -> None:
    assert lookup(VARIABLES, ("item", "tags")) == ["draft", "urgent"]
    assert lookup(VARIABLES, ("map", "results", 1, "output")) == "b"
    with pytest.raises(InterpolationError, match=r"\$\{map\.results\[9\]\} does not exist"):
        lookup(VARIABLES, ("map", "results", 9))


def test_input_variables_are_not_mutated() -> None:
    snapshot = json.dumps(VARIABLES, sort_keys=True)
    interpolate("${item.missing:-x} ${item|json}", VARIABLES)
    assert json.dumps(VARIABLES, sort_keys=True) == snapshot


def test_find_references_reports_text_path_default_filters_and_offsets() -> None:
    template = (
        'cat ${item.path|sh} > ${OUT:-out}/${item.tags[0]}.txt; echo $HOME ${x["a b"]|json|sh}'
    )
    references = find_references(template)
    assert references == [
        Reference(text="${item.path|sh}", root="item", path=("item", "path"), default=None,
                  filters=("sh",), start=4),
        Reference(text="${OUT:-out}", root="OUT", path=("OUT",), default="out", filters=(),
                  start=22),
        Reference(text="${item.tags[0]}", root="item", path=("item", "tags", 0), default=None,
                  filters=(), start=34),
        Reference(text='${x["a b"]|json|sh}', root="x", path=("x", "a b"), default=None,
                  filters=("json", "sh"), start=template.index('${x["a b"]')),
    ]
    for reference in references:
        assert template[reference.start : reference.start + len(reference.text)] == reference.text


def test_find_references_includes_nested_and_skips_non_references() -> None:
    references = find_references("${a:-${b.c}} ${#n} $$ ${d}")
    assert [reference.root for reference in references] == ["a", "b", "d"]
    assert references[0].default == "${b.c}"


def test_json_literals_for_when_expressions() -> None:
    text = interpolate_json_literals(
        "${item.name} == 'x' && ${count} > ${n:-0} && ${item.tags} && ${item.nothing}", VARIABLES
    )
    assert text == '"report.md" == \'x\' && 5 > 0 && ["draft", "urgent"] && null'


@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
))
def test_json_filter_round_trips_any_json_value(value: Any) -> None:
    assert json.loads(interpolate("${v|json}", {"v": value})) == value


@given(text=st.text())
def test_text_without_dollar_braces_is_unchanged(text: str) -> None:
    template = text.replace("${", "$")
    assert interpolate(template, VARIABLES) == template


def test_json_literals_reject_unknown_names_without_default() -> None:
    with pytest.raises(InterpolationError, match="there is no variable named 'nope'"):
        interpolate_json_literals("${nope} == 1", VARIABLES, where='step "s"')
