"""YAML item files that once crashed or blew up the loader: each is now an InputError naming it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mapreduce_fsm.errors import InputError
from mapreduce_fsm.workitems.sources import MAX_ITEM_ALIAS_REPEATS, load_input


def load(tmp_path: Path, text: str) -> object:
    (tmp_path / "items.yaml").write_text(text, encoding="utf-8")
    return asyncio.run(load_input("items.yaml", cwd=tmp_path, env={})).document


def bomb(levels: int) -> str:
    """Each item a list of 10 aliases to the item before: 10**levels strings in the last."""
    lines = ["- &l0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"- &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]"
              for level in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_an_item_file_is_refused_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        load(tmp_path, bomb(9))
    elapsed = time.monotonic() - started
    assert str(caught.value) == (
        f"items.yaml:6: the aliases in this file repeat more than {MAX_ITEM_ALIAS_REPEATS:,} "
        "values (is it a YAML alias bomb?)")
    assert elapsed < 5.0  # milliseconds; it made a 6.9 MB result line before


def test_items_sharing_defaults_through_merge_keys_load(tmp_path: Path) -> None:
    text = "- &defaults {lang: en, retries: 2, owner: team, tags: [a, b]}\n" + "".join(
        f"- {{<<: *defaults, id: {index}}}\n" for index in range(1, 1000))
    items = load(tmp_path, text)
    assert isinstance(items, list) and len(items) == 1000
    assert items[999] == {"lang": "en", "retries": 2, "owner": "team", "tags": ["a", "b"],
                           "id": 999}


def test_a_control_character_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load(tmp_path, "- a\n- b\x01\n")
    assert str(caught.value) == ("items.yaml:2: not valid YAML: unacceptable character #x0001: "
                                 "special characters are not allowed")


@pytest.mark.parametrize(("text", "message"), [
    ("- ok\n- !!timestamp not-a-date\n", "items.yaml:2: not valid YAML: \"not-a-date\" is not "
     "a valid timestamp"),
    ("- !!bool maybe\n", "items.yaml:1: not valid YAML: \"maybe\" is not a valid bool"),
    ("- {a: !!int }\n", "items.yaml:1: not valid YAML: \"\" is not a valid int"),
])
def test_a_value_its_tag_cannot_read_names_the_line(tmp_path: Path, text: str,
                                                    message: str) -> None:
    with pytest.raises(InputError) as caught:
        load(tmp_path, text)
    assert str(caught.value) == message


def test_deep_flow_nesting_is_refused_at_its_line_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        load(tmp_path, "- a\n- " + "[" * 100_000 + "\n")
    elapsed = time.monotonic() - started
    assert str(caught.value) == "items.yaml:2: the YAML is nested more than 200 levels deep"
    assert elapsed < 5.0  # milliseconds; PyYAML's scanner took seconds to overflow the stack
