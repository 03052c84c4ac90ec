"""json_path, then filter -> sort_by -> distinct -> offset -> max_items."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.config.model import MapConfig
from mapreduce_fsm.errors import ExpressionError, InputError
from mapreduce_fsm.expressions.jsonpath import apply_json_path
from mapreduce_fsm.expressions.sorting import SortKey, compile_sort, sort_items
from mapreduce_fsm.expressions.values import sort_rank
from mapreduce_fsm.workitems.select import select_items


def config(**fields: Any) -> MapConfig:
    return MapConfig(input="items.json", agent_template=(), **fields)


def names(values: list[dict[str, Any]]) -> list[Any]:
    return [value["name"] for value in values]


# --- json_path -------------------------------------------------------------------------


@pytest.mark.parametrize("json_path", [None, "", "$"])
def test_no_json_path_gives_list_elements_or_the_document(json_path: str | None) -> None:
    assert apply_json_path([1, 2], json_path) == ([1, 2], [])
    assert apply_json_path({"a": 1}, json_path) == ([{"a": 1}], [])
    assert apply_json_path("text", json_path) == (["text"], [])


def test_json_path_to_a_single_list_gives_its_elements() -> None:
    document = {"items": [{"a": 1}, {"a": 2}]}
    assert apply_json_path(document, "$.items") == ([{"a": 1}, {"a": 2}], [])
    assert apply_json_path(document, "$.items[*]") == ([{"a": 1}, {"a": 2}], [])
    assert apply_json_path(document, "$.items[*].a") == ([1, 2], [])


def test_json_path_with_a_filter() -> None:
    document = {"items": [{"size": 5}, {"size": 50}, {"size": 500}]}
    values, warnings = apply_json_path(document, "$.items[?(@.size > 10)]")
    assert values == [{"size": 50}, {"size": 500}]
    assert warnings == []


def test_json_path_matching_nothing_warns_with_the_origin() -> None:
    values, warnings = apply_json_path({"items": []}, "$.itemz[*]", origin="file items.json")
    assert values == []
    assert warnings == ["map.json_path '$.itemz[*]' matched nothing in file items.json"]


@pytest.mark.parametrize(("json_path", "column"), [("$.a b", 5), ("$.a#", 4), ("$.items[", 9)])
def test_bad_json_path_is_an_expression_error_with_column(json_path: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        apply_json_path({}, json_path)
    assert caught.value.column == column
    assert caught.value.reason.startswith("map.json_path is not valid JSONPath")


def test_json_path_with_an_unimplemented_operator_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"does not implement"):
        apply_json_path({"a": 1}, "$.a & $.a")


def test_json_path_failing_on_mixed_data_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"map.json_path '\$.a.`sorted`' cannot be applied"):
        apply_json_path({"a": [1, "x"]}, "$.a.`sorted`", origin="file x.json")


# --- filter ------------------------------------------------------------------------------

ITEMS = [
    {"name": "a", "size": 30, "kind": "doc"},
    {"name": "b", "size": 5, "kind": "doc"},
    {"name": "c", "size": None, "kind": "img"},
    {"name": "d", "size": 12, "kind": "img"},
    {"name": "e", "kind": "doc"},
]


def test_filter_with_bare_and_item_prefixed_fields() -> None:
    assert names(select_items(ITEMS, config(filter="size > 10"))) == ["a", "d"]
    assert names(select_items(ITEMS, config(filter="item.size > 10"))) == ["a", "d"]
    assert names(select_items(ITEMS, config(filter="is_null(size)"))) == ["c", "e"]


def test_filter_over_string_items_uses_item_for_the_value() -> None:
    values = ["a.md", "b.txt", "c.md"]
    assert select_items(values, config(filter="ends_with(item, '.md')")) == ["a.md", "c.md"]


def test_bad_expressions_name_the_field() -> None:
    with pytest.raises(ExpressionError, match=r"^map.filter: expected a value after '>'"):
        select_items(ITEMS, config(filter="size >"))
    with pytest.raises(ExpressionError, match=r"^map.sort_by: expected FIRST or LAST"):
        select_items(ITEMS, config(sort_by="size NULLS"))
    with pytest.raises(ExpressionError, match=r"^map.distinct: unexpected 'x'"):
        select_items(ITEMS, config(distinct="kind x"))


# --- sort ---------------------------------------------------------------------------------


def test_sort_ascending_puts_nulls_and_missing_last() -> None:
    assert names(select_items(ITEMS, config(sort_by="size"))) == ["b", "d", "a", "c", "e"]


def test_sort_descending_also_puts_nulls_last() -> None:
    assert names(select_items(ITEMS, config(sort_by="size DESC"))) == ["a", "d", "b", "c", "e"]


def test_sort_nulls_first() -> None:
    result = select_items(ITEMS, config(sort_by="size desc nulls first"))
    assert names(result) == ["c", "e", "a", "d", "b"]
    result = select_items(ITEMS, config(sort_by="size ASC NULLS FIRST"))
    assert names(result) == ["c", "e", "b", "d", "a"]
    result = select_items(ITEMS, config(sort_by="size NULLS LAST"))
    assert names(result) == ["b", "d", "a", "c", "e"]


def test_sort_by_several_keys_with_mixed_directions() -> None:
    result = select_items(ITEMS, config(sort_by="kind DESC, size"))
    assert names(result) == ["d", "c", "b", "a", "e"]
    result = select_items(ITEMS, config(sort_by="kind, size DESC"))
    assert names(result) == ["a", "b", "e", "d", "c"]


def test_sort_is_stable_for_equal_keys() -> None:
    result = select_items(ITEMS, config(sort_by="kind"))
    assert names(result) == ["a", "b", "e", "c", "d"]
    result = select_items(ITEMS, config(sort_by="kind DESC"))
    assert names(result) == ["c", "d", "a", "b", "e"]


def test_sort_mixed_types_by_kind_then_value() -> None:
    values = [{"v": v} for v in ["b", 2, {"k": 1}, [1], True, None, 1.5, "a", False, [0]]]
    ordered = [item["v"] for item in sort_items(values, compile_sort("v"))]
    assert ordered == [False, True, 1.5, 2, "a", "b", [0], [1], {"k": 1}, None]


def test_sort_by_nested_path_and_item_prefix() -> None:
    values = [{"o": {"n": 2}}, {"o": {"n": 1}}, {"o": {}}]
    assert sort_items(values, compile_sort("item.o.n")) == [values[1], values[0], values[2]]


def test_compile_sort_parses_keys() -> None:
    assert compile_sort("size DESC NULLS LAST, owner.login, tags[0] nulls first") == (
        SortKey(path=("size",), descending=True, nulls_first=False),
        SortKey(path=("owner", "login"), descending=False, nulls_first=False),
        SortKey(path=("tags", 0), descending=False, nulls_first=True),
    )


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("", "the sort clause is empty", 1),
        ("size,", "expected a field name after ','", 6),
        ("size DESC NULLS", "expected FIRST or LAST after NULLS", 16),
        ("size DOWN", "expected ',' or the end of the sort clause, found 'DOWN'", 6),
        ("'size'", "expected a field name to sort by", 1),
    ],
)
def test_compile_sort_errors_name_the_column(text: str, reason: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_sort(text)
    assert caught.value.reason.startswith(reason)
    assert caught.value.column == column


json_scalars = (
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.text(max_size=2)
)
sort_values = json_scalars | st.lists(json_scalars, max_size=2)
records = st.lists(
    st.fixed_dictionaries({"id": st.integers()}, optional={"k": sort_values}), max_size=30
)


@given(records, st.booleans(), st.booleans())
def test_sort_is_a_stable_sorted_permutation(
    values: list[dict[str, Any]], descending: bool, nulls_first: bool
) -> None:
    values = [dict(value, id=position) for position, value in enumerate(values)]
    key = SortKey(path=("k",), descending=descending, nulls_first=nulls_first)
    result = sort_items(values, [key])
    assert sorted(v["id"] for v in result) == list(range(len(values)))

    def rank(value: dict[str, Any]) -> tuple[Any, ...]:
        present = value.get("k") is not None
        null_order = (not present) if not nulls_first else present
        if not present:
            return (null_order,)
        return (null_order, sort_rank(value["k"]))

    for before, after in itertools.pairwise(result):
        rank_before, rank_after = rank(before), rank(after)
        if rank_before[0] != rank_after[0]:
            assert rank_before[0] < rank_after[0]
        elif len(rank_before) == 2:
            in_order = (
                rank_before[1] >= rank_after[1] if descending else (rank_before[1] <= rank_after[1])
            )
            assert in_order
            if rank_before[1] == rank_after[1]:
                assert before["id"] < after["id"]  # stable
        else:
            assert before["id"] < after["id"]  # nulls keep their order


# --- distinct, offset, max_items -----------------------------------------------------------


def test_distinct_keeps_the_first_of_each_value() -> None:
    assert names(select_items(ITEMS, config(distinct="kind"))) == ["a", "c"]


def test_distinct_counts_missing_as_null_and_keeps_one() -> None:
    assert names(select_items(ITEMS, config(distinct="size"))) == ["a", "b", "c", "d"]


def test_distinct_compares_lists_and_objects_by_value() -> None:
    values = [
        {"n": 1, "t": {"x": 1, "y": [1, 2]}},
        {"n": 2, "t": {"y": [1, 2], "x": 1}},
        {"n": 3, "t": [1, 2]},
        {"n": 4, "t": [1.0, 2]},
        {"n": 5, "t": [2, 1]},
    ]
    assert [v["n"] for v in select_items(values, config(distinct="t"))] == [1, 3, 5]


def test_offset_and_max_items() -> None:
    assert names(select_items(ITEMS, config(offset=1, max_items=2))) == ["b", "c"]
    assert names(select_items(ITEMS, config(offset=4))) == ["e"]
    assert select_items(ITEMS, config(offset=10)) == []
    assert select_items(ITEMS, config(max_items=0)) == []
    assert names(select_items(ITEMS, config(max_items=10))) == ["a", "b", "c", "d", "e"]


def test_order_of_application_is_filter_sort_distinct_offset_limit() -> None:
    values = [
        {"name": "a", "kind": "x", "size": 1},
        {"name": "b", "kind": "y", "size": 9},
        {"name": "c", "kind": "x", "size": 8},
        {"name": "d", "kind": "z", "size": 5},
        {"name": "e", "kind": "y", "size": 7},
        {"name": "f", "kind": "w", "size": 0},
    ]
    result = select_items(
        values,
        config(filter="size > 0", sort_by="size DESC", distinct="kind", offset=1, max_items=2),
    )
    # filter drops f; sort: b9 c8 e7 d5 a1; distinct: b c d (e and a repeat a kind);
    # offset 1: c d; max 2: c d.
    assert names(result) == ["c", "d"]
    # distinct before sort would keep a (first x) instead of c; limit before offset,
    # or sorting after distinct/offset, would each give a different answer.
    assert names(select_items(values, config(distinct="kind", sort_by="size DESC"))) == [
        "b",
        "c",
        "d",
        "f",
    ]


def test_ten_thousand_items_filter_and_sort() -> None:
    values = [{"name": f"n{i}", "size": (i * 7919) % 1000, "tag": i % 3} for i in range(10_000)]
    result = select_items(
        values, config(filter="size >= 500 && tag != 1", sort_by="size DESC, name")
    )
    expected = sorted(
        (v for v in values if v["size"] >= 500 and v["tag"] != 1),
        key=lambda v: (-v["size"], v["name"]),
    )
    assert result == expected


# --- stage counts and warnings -----------------------------------------------------------


def test_selection_counts_what_each_stage_keeps() -> None:
    from mapreduce_fsm.workitems.select import select_stages

    values = [{"name": n, "size": s} for n, s in
              [("a", 1), ("b", 20), ("c", 30), ("b", 40), ("d", 50), ("e", 60)]]
    selection = select_stages(values, config(filter="size > 10", sort_by="name",
                                             distinct="name", offset=1, max_items=2))
    assert selection.counts == (("filter", 5), ("distinct", 4), ("offset", 3),
                                ("max_items", 2))
    assert names(selection.items) == ["c", "d"]
    assert selection.warnings == ()


def test_filter_and_sort_by_on_a_field_no_item_has_warn_naming_the_field() -> None:
    from mapreduce_fsm.workitems.select import select_stages

    values = [{"name": "b", "size": 2}, {"name": "a", "size": None}]
    selection = select_stages(values, config(filter="sise > 1 || item.size > 1",
                                             sort_by="nmae DESC"))
    assert selection.warnings == (
        "map.filter reads field 'sise', which no item has (fields of the items: name, size)",
        "map.sort_by reads field 'nmae', which no item has (fields of the items: name, size)",
    )
    # a field that is null in some items and present is fine
    assert select_stages(values, config(sort_by="size")).warnings == ()
