"""From a loaded document to the final items: json_path, filter, sort, distinct, offset, limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from mapreduce_fsm.config.model import MapConfig
from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.filter import compile_expression
from mapreduce_fsm.expressions.paths import (
    FieldPath,
    compile_path,
    item_relative,
    resolve_in_item,
    strips_item_prefix,
)
from mapreduce_fsm.expressions.sorting import compile_sort, sort_items
from mapreduce_fsm.expressions.values import value_identity

Compiled = TypeVar("Compiled")
FIELD_NAMES_SHOWN = 10


@attrs.frozen(kw_only=True)
class Selection:
    """The selected items, how many each stage kept, and what looked like a mistake."""

    items: list[Any]
    counts: tuple[tuple[str, int], ...]  # ("filter", 12), ... for the stages configured
    warnings: tuple[str, ...]


def select_items(values: Sequence[Any], map_config: MapConfig) -> list[Any]:
    """Apply `filter`, then `sort_by`, `distinct`, `offset` and `max_items`, in that order.

    Expressions that do not parse raise ExpressionError with the `map.` field named.
    """
    return select_stages(values, map_config).items


def select_stages(values: Sequence[Any], map_config: MapConfig) -> Selection:
    """`select_items`, counting what each configured stage keeps, and warning about a
    `filter`, `sort_by` or `distinct` that reads a field no item has (it would silently
    keep none, leave the order as it was, or keep a single item)."""
    selected = list(values)
    counts: list[tuple[str, int]] = []
    warnings: list[str] = []
    if map_config.filter:
        expression = _compiled("map.filter", compile_expression, map_config.filter)
        warnings += _missing_fields("map.filter", expression.paths, selected)
        selected = [value for value in selected if expression.matches(value, item_prefix=True)]
        counts.append(("filter", len(selected)))
    if map_config.sort_by:
        keys = _compiled("map.sort_by", compile_sort, map_config.sort_by)
        warnings += _missing_fields("map.sort_by", [key.path for key in keys], selected)
        selected = sort_items(selected, keys)
    if map_config.distinct:
        path = _compiled("map.distinct", compile_path, map_config.distinct)
        warnings += _missing_fields("map.distinct", [path], selected)  # else keeps just one
        selected = _distinct(selected, path)
        counts.append(("distinct", len(selected)))
    if map_config.offset:
        selected = selected[max(map_config.offset, 0) :]
        counts.append(("offset", len(selected)))
    if map_config.max_items is not None:
        selected = selected[: max(map_config.max_items, 0)]
        counts.append(("max_items", len(selected)))
    return Selection(items=selected, counts=tuple(counts), warnings=tuple(warnings))


def _missing_fields(field: str, paths: Iterable[FieldPath], values: Sequence[Any]) -> list[str]:
    """A warning for each path that no value has (null counts as having it)."""
    if not values:
        return []
    warnings = []
    for path in dict.fromkeys(paths):  # in order, once each
        if not any(_has_field(value, path) for value in values):
            shown = _field_names(values)
            known = f" (fields of the items: {shown})" if shown else " (the items are not objects)"
            name = ".".join(str(segment) for segment in path)
            warnings.append(f"{field} reads field {name!r}, which no item has{known}")
    return warnings


def _has_field(value: Any, path: FieldPath) -> bool:
    relative = item_relative(path)
    if relative is not None and strips_item_prefix(value):
        path = relative
    node = value
    for segment in path:
        if isinstance(segment, str):
            if not isinstance(node, Mapping) or segment not in node:
                return False
            node = node[segment]
        elif isinstance(node, list) and -len(node) <= segment < len(node):
            node = node[segment]
        else:
            return False
    return True


def _field_names(values: Sequence[Any]) -> str:
    names: dict[str, None] = {}
    for value in values[:100]:
        if isinstance(value, Mapping):
            names.update(dict.fromkeys(str(key) for key in value))
    shown = sorted(names)[:FIELD_NAMES_SHOWN]
    more = ", ..." if len(names) > FIELD_NAMES_SHOWN else ""
    return ", ".join(shown) + more


def _distinct(values: list[Any], path: FieldPath) -> list[Any]:
    """The first value for each distinct value at `path` (missing counts as null)."""
    seen: set[str] = set()
    kept = []
    for value in values:
        identity = value_identity(resolve_in_item(value, path))
        if identity not in seen:
            seen.add(identity)
            kept.append(value)
    return kept


def _compiled(field: str, compile_text: Callable[[str], Compiled], text: str) -> Compiled:
    """`compile_text(text)`, with the workflow field named in any ExpressionError."""
    try:
        return compile_text(text)
    except ExpressionError as error:
        raise ExpressionError(
            f"{field}: {error.reason}", expression=error.expression, column=error.column
        ) from None
