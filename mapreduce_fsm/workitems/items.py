"""The final work items of a map: stable ids, the input digest, and the loading pipeline."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.config.model import MapConfig
from mapreduce_fsm.errors import ExpressionError, InputError
from mapreduce_fsm.expressions.filter import compile_expression
from mapreduce_fsm.expressions.jsonpath import apply_json_path
from mapreduce_fsm.expressions.paths import compile_path, resolve_in_item
from mapreduce_fsm.expressions.values import canonical_json, is_number
from mapreduce_fsm.workitems.item_list import ItemList
from mapreduce_fsm.workitems.select import select_stages
from mapreduce_fsm.workitems.sources import load_input

DUPLICATES_SHOWN = 5
# Deeper items are refused when loaded: every stage after (filter, sort, the results
# journal, interpolation) walks items recursively. Real data is a handful of levels deep.
MAX_ITEM_DEPTH = 100
# The largest item, as compact JSON: a step reads it from ITEM_JSON_FILE (README, "Large items").
MAX_ITEM_JSON_BYTES = 16 * 1024 * 1024


@attrs.frozen(kw_only=True)
class WorkItems:
    """The map's items, a digest of them (to refuse a resume over changed input), and warnings."""

    items: ItemList
    digest: str  # sha256 hex of the canonical JSON of [[id, value], ...]
    warnings: tuple[str, ...]
    origin: str  # "file items.json" / "command `ls *.md`"
    # How many items each stage kept: ("loaded", n), ("json_path", n), ("filter", n), ...
    stage_counts: tuple[tuple[str, int], ...] = ()


def assign_ids(values: Sequence[Any], id_field: str | None) -> ItemList:
    """Give each value an id: its `id_field` value as text, else `item-<index>`.

    Raises InputError for an item whose id is missing, null, empty, a list or an object,
    and for duplicate ids (listing the first few with their indexes).
    """
    if id_field is None:
        return ItemList(values)
    try:
        path = compile_path(id_field)
    except ExpressionError as error:
        raise ExpressionError(
            f"map.id_field: {error.reason}", expression=error.expression, column=error.column
        ) from None
    ids = [_id_text(resolve_in_item(value, path), index, id_field)
           for index, value in enumerate(values)]
    _refuse_duplicates(ids, id_field)
    return ItemList(values, ids)


def _id_text(value: Any, index: int, id_field: str) -> str:
    if isinstance(value, str) and value:
        return value
    if is_number(value):
        return json.dumps(value)  # 42 -> "42"
    if value is None:
        problem = "has no value (missing or null)"
    elif isinstance(value, str):
        problem = "is an empty string"
    elif isinstance(value, bool):
        problem = "is a boolean, not a string or number"
    else:
        problem = (
            f"is {'a list' if isinstance(value, list) else 'an object'}, not a string or number"
        )
    raise InputError(f"map.id_field {id_field!r}: item {index} {problem} at {id_field!r}")


def _refuse_duplicates(ids: Sequence[str], id_field: str) -> None:
    indexes_by_id: dict[str, list[int]] = {}
    for index, item_id in enumerate(ids):
        indexes_by_id.setdefault(item_id, []).append(index)
    duplicates = [(id_, indexes) for id_, indexes in indexes_by_id.items() if len(indexes) > 1]
    if not duplicates:
        return
    shown = ", ".join(
        f"{id_!r} (items {', '.join(map(str, indexes))})"
        for id_, indexes in duplicates[:DUPLICATES_SHOWN]
    )
    more = len(duplicates) - DUPLICATES_SHOWN
    rest = f" and {more} more" if more > 0 else ""
    raise InputError(f"map.id_field {id_field!r}: duplicate ids: {shown}{rest}")


def check_item_sizes(items: ItemList, origin: str) -> None:
    """InputError naming the first item whose JSON is over MAX_ITEM_JSON_BYTES."""
    if _json_bytes(items.values) <= MAX_ITEM_JSON_BYTES:
        return  # all of them together fit: no one of them is too large (one call, in C)
    for item in items:
        size = _json_bytes(item.value)
        if size > MAX_ITEM_JSON_BYTES:
            raise InputError(
                f"map.input {origin}: item {item.index} (id {item.id!r}) is {size} bytes of "
                f"JSON; an item may be at most {MAX_ITEM_JSON_BYTES // (1024 * 1024)} MiB. "
                "Put the large data in a file and make the item name the file"
            )


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


_DIGEST_CHUNK = 4096  # items a piece: the text of 100,000 items is never held at once


def items_digest(items: ItemList) -> str:
    """sha256 hex of the canonical JSON (sorted keys, compact) of the [[id, value], ...] list,
    hashed a piece at a time."""
    digest = hashlib.sha256(b"[")
    ids, values = items.ids(), items.values
    for start in range(0, len(values), _DIGEST_CHUNK):
        piece = values[start:start + _DIGEST_CHUNK]
        # (id, value) tuples, which JSON writes as the [id, value] pairs: made in C
        text = canonical_json(list(zip(itertools.islice(ids, len(piece)), piece, strict=True)))
        digest.update(b"," if start else b"")
        digest.update(text[1:-1].encode("utf-8"))
    digest.update(b"]")
    return digest.hexdigest()


async def load_work_items(
    map_config: MapConfig, *, input_spec: str, cwd: Path, env: Mapping[str, str]
) -> WorkItems:
    """Load, select and identify the map's items (docs/workflow-format.md section 4, steps 1 to 3).

    `input_spec` is `map.input` already interpolated. Raises InputError or ExpressionError.
    Use::

        work = await load_work_items(workflow.map, input_spec="items.json", cwd=cwd, env={})
        for item in work.items: ...
    """
    try:
        loaded = await load_input(input_spec, cwd=cwd, env=env)
    except RecursionError:  # thousands of levels: the JSON or YAML reader gives up
        raise InputError(f"map.input {input_spec.strip()!r}: the data is nested too deeply "
                         f"to read (items may be nested at most {MAX_ITEM_DEPTH} levels)") from None
    values, warnings = apply_json_path(loaded.document, map_config.json_path, origin=loaded.origin)
    warnings[:0] = loaded.warnings
    check_depth(values, loaded.origin)
    selection = select_stages(values, map_config)
    warnings.extend(selection.warnings)
    if values and not selection.items:
        warnings.append(_nothing_selected_warning(values, map_config, loaded.origin))
    items = assign_ids(selection.items, map_config.id_field)
    check_item_sizes(items, loaded.origin)
    document = loaded.document
    counts = (("loaded", len(document) if isinstance(document, list) else 1),
              ("json_path", len(values)), *selection.counts)
    return WorkItems(items=items, digest=items_digest(items), warnings=tuple(warnings),
                     origin=loaded.origin, stage_counts=counts)


def check_depth(values: Sequence[Any], origin: str) -> None:
    """InputError if a value is nested more than MAX_ITEM_DEPTH levels (or contains itself,
    as a YAML alias can make it); walked without recursion."""
    if not {dict, list} & set(map(type, values)):
        return  # numbers and strings alone (most big maps): nothing inside them
    for index, value in enumerate(values):
        if type(value) not in (dict, list):
            continue
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_ITEM_DEPTH:
                raise InputError(
                    f"map.input: item {index} of {origin} is nested more than {MAX_ITEM_DEPTH} "
                    "levels deep (or contains itself); items may be nested at most "
                    f"{MAX_ITEM_DEPTH} levels")
            if isinstance(node, dict):
                stack.extend((child, depth + 1) for child in node.values())
            elif isinstance(node, list):
                stack.extend((child, depth + 1) for child in node)


def _nothing_selected_warning(values: Sequence[Any], map_config: MapConfig, origin: str) -> str:
    count = f"{len(values)} item{'s' if len(values) != 1 else ''} from {origin}"
    if map_config.filter:
        expression = compile_expression(map_config.filter)
        if not any(expression.matches(value, item_prefix=True) for value in values):
            return f"map.filter {map_config.filter!r} kept none of the {count}"
    if map_config.max_items == 0:
        return f"map.max_items is 0: none of the {count} will run"
    return f"map.offset {map_config.offset} skips all of the selected items ({count} loaded)"
