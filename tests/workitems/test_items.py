"""Item ids, duplicate ids, the input digest, and load_work_items end to end."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce_fsm.config.model import MapConfig
from mapreduce_fsm.errors import ExpressionError, InputError
from mapreduce_fsm.expressions.values import canonical_json
from mapreduce_fsm.workitems import ItemList, WorkItem, WorkItems, assign_ids, load_work_items
from mapreduce_fsm.workitems import items as items_module
from mapreduce_fsm.workitems.items import items_digest


def config(**fields: Any) -> MapConfig:
    fields.setdefault("input", "items.json")
    return MapConfig(agent_template=(), **fields)


def run_load(tmp_path: Path, map_config: MapConfig, spec: str = "items.json") -> WorkItems:
    return asyncio.run(load_work_items(map_config, input_spec=spec, cwd=tmp_path, env={}))


def test_default_ids_are_item_index() -> None:
    assert tuple(assign_ids(["a", {"b": 1}], None)) == (
        WorkItem(id="item-0", index=0, value="a"),
        WorkItem(id="item-1", index=1, value={"b": 1}),
    )


def test_ids_from_a_field_path_render_numbers_as_text() -> None:
    values = [{"p": "x.md"}, {"p": 42}, {"p": 2.5}]
    assert [item.id for item in assign_ids(values, "p")] == ["x.md", "42", "2.5"]
    nested = [{"owner": {"login": "ann"}}, {"owner": {"login": "bob"}}]
    assert [item.id for item in assign_ids(nested, "owner.login")] == ["ann", "bob"]
    assert [item.id for item in assign_ids(nested, "item.owner.login")] == ["ann", "bob"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"q": 1}, "has no value (missing or null)"),
        ({"p": None}, "has no value (missing or null)"),
        ({"p": ""}, "is an empty string"),
        ({"p": [1]}, "is a list, not a string or number"),
        ({"p": {"a": 1}}, "is an object, not a string or number"),
        ({"p": True}, "is a boolean, not a string or number"),
        ("plain string", "has no value (missing or null)"),
    ],
)
def test_unusable_id_names_the_item_index(value: Any, problem: str) -> None:
    with pytest.raises(InputError) as caught:
        assign_ids([{"p": "ok"}, value], "p")
    assert str(caught.value) == f"map.id_field 'p': item 1 {problem} at 'p'"


def test_duplicate_ids_are_listed_with_their_indexes() -> None:
    values = [{"p": "a"}, {"p": "b"}, {"p": "a"}, {"p": 1}, {"p": "1"}, {"p": "a"}]
    with pytest.raises(InputError) as caught:
        assign_ids(values, "p")
    assert str(caught.value) == (
        "map.id_field 'p': duplicate ids: 'a' (items 0, 2, 5), '1' (items 3, 4)"
    )


def test_many_duplicates_are_summarised() -> None:
    values = [{"p": n % 8} for n in range(16)]
    with pytest.raises(InputError, match=r"'4' \(items 4, 12\) and 3 more$"):
        assign_ids(values, "p")


def test_bad_id_field_path_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match=r"^map.id_field: expected a field name after"):
        assign_ids([{}], "a.")


def test_pipeline_json_path_filter_sort_limit_ids(tmp_path: Path) -> None:
    document = {
        "files": [
            {"path": "a.md", "size": 3},
            {"path": "b.md", "size": 30},
            {"path": "c.md", "size": 20},
            {"path": "d.md", "size": 40},
        ]
    }
    (tmp_path / "items.json").write_text(json.dumps(document))
    work = run_load(
        tmp_path,
        config(
            json_path="$.files[*]",
            filter="size > 10",
            sort_by="size DESC",
            max_items=2,
            id_field="path",
        ),
    )
    assert tuple(work.items) == (
        WorkItem(id="d.md", index=0, value={"path": "d.md", "size": 40}),
        WorkItem(id="b.md", index=1, value={"path": "b.md", "size": 30}),
    )
    assert work.warnings == ()
    assert work.origin == "file items.json"
    assert len(work.digest) == 64 and int(work.digest, 16) >= 0


def test_pipeline_from_a_command(tmp_path: Path) -> None:
    work = run_load(tmp_path, config(), spec="printf 'x\\ny\\n'")
    assert [(item.id, item.value) for item in work.items] == [("item-0", "x"), ("item-1", "y")]
    assert work.origin == "command `printf 'x\\ny\\n'`"


def test_digest_is_stable_and_sensitive_to_changes(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text('[{"a": 1, "b": 2}, {"a": 2}]')
    first = run_load(tmp_path, config()).digest
    (tmp_path / "items.json").write_text('[ {"b": 2, "a": 1},\n {"a": 2} ]')  # same values
    assert run_load(tmp_path, config()).digest == first
    (tmp_path / "items.json").write_text('[{"a": 1, "b": 3}, {"a": 2}]')
    assert run_load(tmp_path, config()).digest != first
    (tmp_path / "items.json").write_text('[{"a": 2}, {"a": 1, "b": 2}]')  # reordered
    assert run_load(tmp_path, config()).digest != first


def test_digest_covers_ids(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text('[{"a": "x", "b": "y"}]')
    by_a = run_load(tmp_path, config(id_field="a")).digest
    by_b = run_load(tmp_path, config(id_field="b")).digest
    assert by_a != by_b


def test_json_path_warning_is_passed_on(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text('{"items": [1]}')
    work = run_load(tmp_path, config(json_path="$.itemz[*]"))
    assert tuple(work.items) == ()
    assert work.warnings == ("map.json_path '$.itemz[*]' matched nothing in file items.json",)


def test_a_filter_that_keeps_nothing_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text('[{"size": 1}, {"size": 2}]')
    work = run_load(tmp_path, config(filter="size > 100"))
    assert tuple(work.items) == ()
    assert work.warnings == (
        "map.filter 'size > 100' kept none of the 2 items from file items.json",
    )


def test_offset_past_the_end_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("[1, 2]")
    work = run_load(tmp_path, config(offset=5))
    assert work.warnings == (
        "map.offset 5 skips all of the selected items (2 items from file items.json loaded)",
    )


def test_an_empty_input_has_no_items_and_no_warning(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("[]")
    work = run_load(tmp_path, config())
    assert tuple(work.items) == () and work.warnings == ()


def test_ten_thousand_items_through_selection_and_ids(tmp_path: Path) -> None:
    values = [
        {"id": f"k{i}", "size": (i * 31) % 997, "tags": ["a"] * (i % 4)} for i in range(10_000)
    ]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(v) for v in values))
    work = run_load(
        tmp_path,
        config(filter="size > 100 && length(tags) >= 2", sort_by="size, id", id_field="id"),
        spec="items.jsonl",
    )
    expected = sorted(
        (v for v in values if v["size"] > 100 and len(v["tags"]) >= 2),
        key=lambda v: (v["size"], v["id"]),
    )
    assert [item.value for item in work.items] == expected
    assert [item.index for item in work.items] == list(range(len(expected)))


@pytest.mark.parametrize(("name", "text", "message"), [
    ("deep.json", '[{"a": ' + "[" * 150 + "]" * 150 + "}]",
     "item 0 of file deep.json is nested more than 100 levels deep"),
    ("deeper.json", "[" * 100_000 + "]" * 100_000, "the data is nested too deeply to read"),
    ("self.yaml", "- &a [*a]\n", "nested"),
])
def test_items_nested_too_deeply_are_an_input_error(tmp_path: Path, name: str, text: str,
                                                    message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message):
        run_load(tmp_path, config(input=name), name)


def test_items_nested_100_levels_load(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("[" + "[" * 99 + "]" * 99 + "]")
    assert len(run_load(tmp_path, config(input="items.json")).items) == 1


def test_non_utf8_bytes_in_a_commands_output_are_replaced_with_one_warning(
    tmp_path: Path,
) -> None:
    loaded = run_load(tmp_path, config(), spec=r"printf 'a\377b\nc\376d\n'")
    assert [item.value for item in loaded.items] == ["a\ufffdb", "c\ufffdd"]
    assert len(loaded.warnings) == 1
    assert "printf" in loaded.warnings[0] and "not UTF-8 at byte 1" in loaded.warnings[0]
    assert "U+FFFD" in loaded.warnings[0]


def test_items_over_the_size_limit_are_refused_naming_the_item(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps(["ok", "x" * (16 * 1024 * 1024)]))
    with pytest.raises(InputError, match=r"item 1 \(id 'item-1'\) is 16777218 bytes .* 16 MiB"):
        run_load(tmp_path, config())


def test_items_over_the_limit_together_but_not_alone_are_kept(tmp_path: Path) -> None:
    # The check first measures all items at once; that sum being over the limit must not
    # refuse items that each fit.
    (tmp_path / "items.json").write_text(json.dumps(["x" * (6 * 1024 * 1024)] * 3))
    assert len(run_load(tmp_path, config()).items) == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6)), max_size=40), st.integers(min_value=1, max_value=5))
def test_the_digest_is_the_sha256_of_the_whole_canonical_list(
    pairs: list[tuple[str, Any]], piece: int,
) -> None:
    # Hashed a piece at a time, it must equal the digest of the whole text (the one saved
    # in checkpoints written before), across piece boundaries: pieces of 1 to 5 items here.
    items = ItemList([value for _, value in pairs], [item_id for item_id, _ in pairs])
    whole = canonical_json([[item.id, item.value] for item in items])
    with mock.patch.object(items_module, "_DIGEST_CHUNK", piece):
        assert items_digest(items) == hashlib.sha256(whole.encode("utf-8")).hexdigest()


def test_an_item_list_gives_work_items_by_index_slice_and_iteration() -> None:
    items = assign_ids([{"p": "x"}, {"p": "y"}, {"p": "z"}], "p")
    assert (len(items), items[-1], items[1].id) == (3, WorkItem(id="z", index=2, value={"p": "z"}),
                                                     "y")
    assert [item.id for item in items[:2]] == ["x", "y"] == list(items.ids())[:2]
    assert [item.index for item in items] == [0, 1, 2]
    assert items == assign_ids([{"p": "x"}, {"p": "y"}, {"p": "z"}], "p")
    assert items != assign_ids([{"p": "x"}, {"p": "y"}, {"p": "z"}], None)
    with pytest.raises(IndexError):
        items[3]
    with pytest.raises(IndexError):
        items[-4]
