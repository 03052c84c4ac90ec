"""`map.sort_by`: parsing sort clauses such as "size DESC NULLS LAST, path" and sorting items.

Each key is a field path with an optional direction, `ASC` (the default) or `DESC`, and an
optional `NULLS FIRST` / `NULLS LAST`; keywords are case-insensitive. Nulls (and missing
fields) go last in both directions unless `NULLS FIRST` says otherwise. Values of
different kinds never make sorting fail: they are ordered by kind first
(bool < number < string < array < object), then by value. Sorting is stable: items with
equal keys keep their input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import attrs

from mapreduce_fsm.expressions.paths import FieldPath, parse_path, resolve_in_item
from mapreduce_fsm.expressions.tokens import TokenCursor, TokenKind
from mapreduce_fsm.expressions.values import sort_rank


@attrs.frozen(kw_only=True)
class SortKey:
    """One key of a sort clause."""

    path: FieldPath
    descending: bool = False
    nulls_first: bool = False


def compile_sort(text: str) -> tuple[SortKey, ...]:
    """Parse a sort clause; raises ExpressionError naming the 1-based column of the problem."""
    cursor = TokenCursor.over(text)
    if cursor.peek().kind is TokenKind.END:
        raise cursor.error("the sort clause is empty")
    keys: list[SortKey] = []
    while True:
        token = cursor.peek()
        if token.kind is not TokenKind.NAME:
            after = "after ','" if keys else "to sort by"
            raise cursor.error(f"expected a field name {after}, found {token.describe()}")
        path = parse_path(cursor)
        descending = False
        if cursor.peek().is_word("asc", "desc"):
            descending = cursor.advance().text.lower() == "desc"
        nulls_first = False
        if cursor.peek().is_word("nulls"):
            cursor.advance()
            if not cursor.peek().is_word("first", "last"):
                raise cursor.error(
                    f"expected FIRST or LAST after NULLS, found {cursor.peek().describe()}"
                )
            nulls_first = cursor.advance().text.lower() == "first"
        keys.append(SortKey(path=path, descending=descending, nulls_first=nulls_first))
        if cursor.peek().kind is TokenKind.END:
            return tuple(keys)
        if not cursor.peek().is_symbol(","):
            raise cursor.error(
                f"expected ',' or the end of the sort clause, found {cursor.peek().describe()}"
            )
        cursor.advance()


def sort_items(items: Sequence[Any], keys: Sequence[SortKey]) -> list[Any]:
    """`items` sorted by `keys` (the first key most significant); stable; never raises."""
    ordered = list(items)
    for key in reversed(keys):  # successive stable sorts, least significant key first
        ordered = _sort_by_key(ordered, key)
    return ordered


def _sort_by_key(items: list[Any], key: SortKey) -> list[Any]:
    nulls: list[Any] = []
    present: list[tuple[tuple[int, Any], Any]] = []
    for item in items:
        value = resolve_in_item(item, key.path)
        if value is None:
            nulls.append(item)
        else:
            present.append((sort_rank(value), item))
    present.sort(key=itemgetter(0), reverse=key.descending)  # reverse=True keeps stability
    ordered = [item for _, item in present]
    return nulls + ordered if key.nulls_first else ordered + nulls
