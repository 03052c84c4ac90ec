"""From a loaded document to the final items: json_path, filter, sort, distinct, offset, limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mapreduce_fsm.config.model import MapConfig
from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.filter import compile_expression
from mapreduce_fsm.expressions.paths import FieldPath, compile_path, resolve_in_item
from mapreduce_fsm.expressions.sorting import compile_sort, sort_items
from mapreduce_fsm.expressions.values import value_identity

Compiled = TypeVar("Compiled")


def select_items(values: Sequence[Any], map_config: MapConfig) -> list[Any]:
    """Apply `filter`, then `sort_by`, `distinct`, `offset` and `max_items`, in that order.

    Expressions that do not parse raise ExpressionError with the `map.` field named.
    """
    selected = list(values)
    if map_config.filter:
        expression = _compiled("map.filter", compile_expression, map_config.filter)
        selected = [value for value in selected if expression.matches(value, item_prefix=True)]
    if map_config.sort_by:
        selected = sort_items(selected, _compiled("map.sort_by", compile_sort, map_config.sort_by))
    if map_config.distinct:
        selected = _distinct(selected, _compiled("map.distinct", compile_path, map_config.distinct))
    selected = selected[max(map_config.offset, 0) :]
    if map_config.max_items is not None:
        selected = selected[: max(map_config.max_items, 0)]
    return selected


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
