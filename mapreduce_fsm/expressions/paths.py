"""Field paths (`owner.login`, `tags[0]`, `a['b c'][2]`): parsing, resolving, the `item.` prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mapreduce_fsm.expressions.tokens import TokenCursor, TokenKind

PathSegment = str | int
FieldPath = tuple[PathSegment, ...]

ITEM_PREFIX = "item"


def compile_path(text: str) -> FieldPath:
    """Parse a whole string as one field path; raises ExpressionError with a column."""
    cursor = TokenCursor.over(text)
    if cursor.peek().kind is not TokenKind.NAME:
        raise cursor.error(f"expected a field name, found {cursor.peek().describe()}")
    path = parse_path(cursor)
    if cursor.peek().kind is not TokenKind.END:
        raise cursor.unexpected()
    return path


def parse_path(cursor: TokenCursor) -> FieldPath:
    """Read `name(.name | [index] | ['key'])*` from `cursor`, which must be at a NAME token."""
    segments: list[PathSegment] = [str(cursor.advance().value)]
    while True:
        token = cursor.peek()
        if token.is_symbol("."):
            cursor.advance()
            name = cursor.peek()
            if name.kind is not TokenKind.NAME:
                raise cursor.error(f"expected a field name after '.', found {name.describe()}")
            segments.append(str(cursor.advance().value))
        elif token.is_symbol("["):
            cursor.advance()
            key = cursor.peek()
            if key.kind is TokenKind.STRING or (
                key.kind is TokenKind.NUMBER and isinstance(key.value, int)
            ):
                segments.append(key.value)  # type: ignore[arg-type]  # str or int, checked above
                cursor.advance()
            else:
                raise cursor.error(
                    f"expected an index or a quoted key after '[', found {key.describe()}"
                )
            cursor.expect_symbol("]", "to close '['")
        else:
            return tuple(segments)


def resolve(root: Any, path: FieldPath) -> Any:
    """The value at `path` in `root`, or None when any step of it is missing."""
    value = root
    for segment in path:
        if isinstance(segment, str):
            if not isinstance(value, Mapping):
                return None
            value = value.get(segment)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            try:
                value = value[segment]
            except IndexError:
                return None
        else:
            return None
    return value


def strips_item_prefix(root: Any) -> bool:
    """Whether a leading `item.` in a path means the item itself (the item has no `item` key)."""
    return not (isinstance(root, Mapping) and ITEM_PREFIX in root)


def item_relative(path: FieldPath) -> FieldPath | None:
    """`path` without its leading `item` segment, or None when it does not start with one."""
    return path[1:] if path and path[0] == ITEM_PREFIX else None


def resolve_in_item(item: Any, path: FieldPath) -> Any:
    """Resolve `path` in a work item, accepting an `item.` prefix the way filters do."""
    relative = item_relative(path)
    if relative is not None and strips_item_prefix(item):
        return resolve(item, relative)
    return resolve(item, path)
