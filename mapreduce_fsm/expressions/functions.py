"""The built-in functions of the filter language; each takes evaluated values and never raises."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from mapreduce_fsm.expressions.values import is_number, json_equal


@attrs.frozen(kw_only=True)
class Function:
    name: str
    arity: int
    call: Callable[..., Any]


def _length(value: Any) -> int | None:
    if value is None:
        return 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    return None


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | Mapping) and len(value) == 0)


def contains(container: Any, element: Any) -> bool:
    """`contains(x, y)` and `y in x`: substring of a string, member of a list, key of an object."""
    if isinstance(container, str):
        return isinstance(element, str) and element in container
    if isinstance(container, list | tuple):
        return any(json_equal(member, element) for member in container)
    if isinstance(container, Mapping):
        return isinstance(element, str) and element in container
    return False


def _starts_with(text: Any, prefix: Any) -> bool:
    return isinstance(text, str) and isinstance(prefix, str) and text.startswith(prefix)


def _ends_with(text: Any, suffix: Any) -> bool:
    return isinstance(text, str) and isinstance(suffix, str) and text.endswith(suffix)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def regex_matches(text: Any, pattern: Any) -> bool:
    """`matches(s, regex)`: re.search; false for non-strings and for a pattern that is no regex."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    compiled = _regex(pattern)
    return compiled is not None and compiled.search(text) is not None


FUNCTIONS: dict[str, Function] = {
    function.name: function
    for function in (
        Function(name="is_null", arity=1, call=lambda value: value is None),
        Function(name="is_not_null", arity=1, call=lambda value: value is not None),
        Function(name="is_number", arity=1, call=is_number),
        Function(name="is_string", arity=1, call=lambda value: isinstance(value, str)),
        Function(name="is_bool", arity=1, call=lambda value: isinstance(value, bool)),
        Function(name="is_array", arity=1, call=lambda value: isinstance(value, list | tuple)),
        Function(name="is_object", arity=1, call=lambda value: isinstance(value, Mapping)),
        Function(name="is_empty", arity=1, call=_is_empty),
        Function(name="contains", arity=2, call=contains),
        Function(name="starts_with", arity=2, call=_starts_with),
        Function(name="ends_with", arity=2, call=_ends_with),
        Function(name="length", arity=1, call=_length),
        Function(name="matches", arity=2, call=regex_matches),
    )
}
