"""JSON value semantics shared by filters, sorting and distinct: equality, ordering, canonical text.

None of these functions raise on data: comparing values of different kinds is simply
false (or, for sorting, ordered by kind).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Sort order of the kinds of JSON values; null is placed separately (NULLS FIRST/LAST).
KIND_RANK_BOOL = 0
KIND_RANK_NUMBER = 1
KIND_RANK_STRING = 2
KIND_RANK_ARRAY = 3
KIND_RANK_OBJECT = 4


def is_number(value: Any) -> bool:
    """A JSON number: int or float, but not bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """Equality by JSON value: 1 == 1.0, true != 1, a number never equals a string."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if is_number(left) or is_number(right):
        return is_number(left) and is_number(right) and left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple | Mapping) or isinstance(right, list | tuple | Mapping):
        return False
    return bool(left == right)


def comparable(left: Any, right: Any) -> bool:
    """Whether `<`-style ordering applies: two numbers or two strings."""
    if is_number(left):
        return is_number(right)
    return isinstance(left, str) and isinstance(right, str)


def sort_rank(value: Any) -> tuple[int, Any]:
    """A key that orders any non-null JSON values without raising: kind first, then value."""
    if isinstance(value, bool):
        return (KIND_RANK_BOOL, value)
    if is_number(value):
        return (KIND_RANK_NUMBER, value)
    if isinstance(value, str):
        return (KIND_RANK_STRING, value)
    if isinstance(value, list | tuple):
        return (KIND_RANK_ARRAY, canonical_json(value))
    if isinstance(value, Mapping):
        return (KIND_RANK_OBJECT, canonical_json(value))
    return (KIND_RANK_STRING, str(value))


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the same text for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def value_identity(value: Any) -> str:
    """Canonical text under which JSON-equal values collide (1 and 1.0 are one value)."""
    return canonical_json(_integral_floats_as_ints(value))


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_integral_floats_as_ints(element) for element in value]
    if isinstance(value, Mapping):
        return {key: _integral_floats_as_ints(element) for key, element in value.items()}
    return value
