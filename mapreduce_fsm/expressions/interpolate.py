"""`${...}` interpolation of step text (docs/workflow-format.md section 3).

Syntax: `${root.field[0]["odd key"]:-default|filter|filter}`. Rules:

- `$NAME`, `$1`, `$$` and `$(cmd)` are never touched; they belong to the shell.
- A root that is neither a variable nor a known namespace (`KNOWN_NAMESPACES`) is
  left exactly as written, default and all, so the shell's own `${f}` and
  `${HOME:-/tmp}` keep working. Text inside `${...}` that is not a reference at
  all (`${#arr[@]}`, `${f%%.*}`) is left as written too; references nested inside
  either are still replaced.
- A missing field under a known root is an `InterpolationError` naming the step,
  the path and the fields that do exist, unless the reference has a `:-` default,
  which applies when the value is missing or null. A default is itself interpolated.
- Filters: `sh` quotes the rendered value for the shell (`shlex.quote`), `json`
  renders it as compact JSON, `raw` changes nothing here (in a `shell` step it marks a
  value inserted as shell code, see `commands/shell_command.py`). After the first
  filter the value is a string.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from mapreduce_fsm.errors import InterpolationError

KNOWN_NAMESPACES: frozenset[str] = frozenset(
    {"item", "map", "setup", "shell", "error", "workflow", "job", "env", "last"}
)
KNOWN_FILTERS: frozenset[str] = frozenset({"sh", "json", "raw"})

_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(
    r"\.(?P<field>[A-Za-z0-9_-]+)"
    r"|\[(?P<index>-?\d+)\]"
    r"|\[\"(?P<dquoted>[^\"]*)\"\]"
    r"|\['(?P<squoted>[^']*)'\]"
)
_FILTERS = re.compile(r"(?:\|[A-Za-z_][A-Za-z0-9_]*)*\Z")
_MAX_LISTED_FIELDS = 20


@attrs.frozen(kw_only=True)
class Reference:
    """One `${...}` reference found in a template."""

    text: str  # the whole "${...}"
    root: str  # first name
    path: tuple[str | int, ...]  # every segment, root included
    default: str | None  # the ":-" default, None when absent
    filters: tuple[str, ...]  # ("sh",), ("json",)
    start: int  # 0-based offset of "${" in the template


class _Missing(Exception):
    """A path that does not resolve; `detail` says what exists instead."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def format_path(path: Sequence[str | int]) -> str:
    """`("item", "tags", 0)` -> `item.tags[0]`."""
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif not text:
            text = segment
        elif re.fullmatch(r"[A-Za-z0-9_-]+", segment):
            text += f".{segment}"
        else:
            text += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return text


def render_value(value: Any) -> str:
    """Strings as-is, numbers and booleans as text (true/false), None as "", the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _compact_json(value)


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _describe_level(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        keys = [str(key) for key in value]
        if not keys:
            return f"{name} is an empty object"
        listed = ", ".join(keys[:_MAX_LISTED_FIELDS])
        if len(keys) > _MAX_LISTED_FIELDS:
            listed += f", ... ({len(keys) - _MAX_LISTED_FIELDS} more)"
        return f"{name} has: {listed}"
    if isinstance(value, list | tuple):
        return f"{name} is a list of {len(value)} elements; use an index such as {name}[0]"
    if value is None:
        return f"{name} is null"
    kind = {bool: "boolean", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )
    return f"{name} is a {kind}, not an object"


def _resolve(variables: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    """The value at `path`, or `_Missing` saying what exists at the deepest level reached."""
    root = path[0]
    dotted = _dotted_key(variables, path)
    if dotted is not None:  # a captured sub-field, `${NAME.exit_code}`, kept as one key
        key, rest = dotted
        return _resolve({key: variables[key]}, (key, *rest))
    if not isinstance(root, str) or root not in variables:
        if root in KNOWN_NAMESPACES:
            raise _Missing(f"there are no {root} variables here")
        raise _Missing(f"there is no variable named {root!r}")
    value = variables[root]
    for depth, segment in enumerate(path[1:], start=1):
        level = format_path(path[:depth])
        if isinstance(segment, int):
            if isinstance(value, list | tuple):
                if -len(value) <= segment < len(value):
                    value = value[segment]
                    continue
                raise _Missing(f"{level} has {len(value)} elements")
        elif isinstance(value, Mapping) and segment in value:
            value = value[segment]
            continue
        raise _Missing(_describe_level(level, value))
    return value


def _dotted_key(
    variables: Mapping[str, Any], path: Sequence[str | int]
) -> tuple[str, Sequence[str | int]] | None:
    """The longest `a.b` key of `variables` (two or more segments) that `path` starts with."""
    for end in range(len(path), 1, -1):
        head = path[:end]
        if all(isinstance(segment, str) for segment in head):
            key = ".".join(str(segment) for segment in head)
            if key in variables:
                return key, path[end:]
    return None


def lookup(variables: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    """The value at `path` (root first); an InterpolationError says what exists if missing."""
    if not path:
        raise InterpolationError("an empty variable path refers to nothing")
    try:
        return _resolve(variables, path)
    except _Missing as missing:
        raise InterpolationError(
            f"${{{format_path(path)}}} does not exist; {missing.detail}"
        ) from None


def _matching_brace(template: str, open_index: int) -> int | None:
    depth = 0
    for index in range(open_index, len(template)):
        char = template[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _parse(content: str, start: int, text: str) -> Reference | None:
    root_match = _ROOT.match(content)
    if root_match is None:
        return None
    path: list[str | int] = [root_match.group()]
    position = root_match.end()
    while (segment := _SEGMENT.match(content, position)) is not None:
        if segment.group("index") is not None:
            path.append(int(segment.group("index")))
        else:
            key = segment.group("field")
            if key is None:
                key = segment.group("dquoted")
            if key is None:
                key = segment.group("squoted")
            path.append(key)
        position = segment.end()
    rest = content[position:]
    default: str | None = None
    if rest.startswith(":-"):
        body = rest[2:]
        pipe = _last_filter_chain_start(body)
        default, rest = body[:pipe], body[pipe:]
    if _FILTERS.match(rest) is None:
        return None
    filters = tuple(name for name in rest.split("|") if name)
    return Reference(
        text=text, root=root_match.group(), path=tuple(path), default=default,
        filters=filters, start=start,
    )


def _last_filter_chain_start(body: str) -> int:
    """Where a trailing `|name|name` chain begins in a default's text (len(body) if none)."""
    match = re.search(r"(?:\|[A-Za-z_][A-Za-z0-9_]*)+\Z", body)
    return match.start() if match else len(body)


def scan_references(template: str) -> list[tuple[int, int, Reference | None]]:
    """Every `${...}` span, outermost first, as (start, end, parsed reference or None)."""
    return _scan(template)


def is_substituted(reference: Reference, variables: Mapping[str, Any]) -> bool:
    """Whether `interpolate` replaces `reference` (False: the shell's own `${f}`, left as is)."""
    return reference.root in variables or reference.root in KNOWN_NAMESPACES


def reference_value(reference: Reference, variables: Mapping[str, Any], *, where: str) -> Any:
    """The value `reference` stands for, its default and filters applied."""
    return _value_of(reference, variables, where, _render_text)


def _scan(template: str) -> list[tuple[int, int, Reference | None]]:
    """Every `${...}` span, outermost first, as (start, end, parsed reference or None)."""
    spans: list[tuple[int, int, Reference | None]] = []
    index = 0
    while (index := template.find("$", index)) != -1:
        following = template[index + 1 : index + 2]
        if following == "$":
            index += 2
            continue
        if following != "{":
            index += 1
            continue
        close = _matching_brace(template, index + 1)
        if close is None:
            break
        text = template[index : close + 1]
        spans.append((index, close + 1, _parse(text[2:-1], index, text)))
        index += 2
    return spans


def find_references(template: str) -> list[Reference]:
    """Every well-formed `${...}` reference in `template`, nested ones included, in order."""
    return [reference for _, _, reference in _scan(template) if reference is not None]


def _apply_filters(value: Any, filters: Sequence[str], reference: Reference) -> Any:
    for name in filters:
        if name == "sh":
            value = shlex.quote(render_value(value))
        elif name == "json":
            value = _compact_json(value)
        elif name == "raw":
            value = render_value(value)
        else:
            known = ", ".join(sorted(KNOWN_FILTERS))
            raise _Missing(f"unknown filter {name!r} in {reference.text} (filters: {known})")
    return value


def _substitute(
    template: str,
    variables: Mapping[str, Any],
    where: str,
    render: Callable[[Any, Reference], str],
    *,
    leave_unknown_roots: bool,
) -> str:
    pieces: list[str] = []
    cursor = 0
    for start, end, reference in _scan(template):
        if start < cursor or reference is None:
            continue  # nested in a reference already replaced, or not a reference at all
        if leave_unknown_roots and not is_substituted(reference, variables):
            continue  # the shell's own ${f}; references nested in it are still replaced
        pieces.append(template[cursor:start])
        pieces.append(render(_value_of(reference, variables, where, render), reference))
        cursor = end
    pieces.append(template[cursor:])
    return "".join(pieces)


def _value_of(
    reference: Reference,
    variables: Mapping[str, Any],
    where: str,
    render: Callable[[Any, Reference], str],
) -> Any:
    prefix = f"{where}: " if where else ""
    try:
        value = _resolve(variables, reference.path)
    except _Missing as missing:
        if reference.default is None:
            raise InterpolationError(
                f"{prefix}${{{format_path(reference.path)}}} does not exist; {missing.detail}"
            ) from None
        value = None
    if value is None and reference.default is not None:
        value = _substitute(
            reference.default, variables, where, _render_text, leave_unknown_roots=True
        )
        if render is _render_json_literal:
            value = _json_or_text(value)
    try:
        return _apply_filters(value, reference.filters, reference)
    except _Missing as unknown:
        raise InterpolationError(f"{prefix}{unknown.detail}") from None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _render_text(value: Any, reference: Reference) -> str:
    return render_value(value)


def _render_json_literal(value: Any, reference: Reference) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def interpolate(template: str, variables: Mapping[str, Any], *, where: str = "") -> str:
    """Replace every `${...}` that names a variable or a known namespace with its rendered value.

    >>> interpolate("wc -w ${item.path|sh}", {"item": {"path": "a b.md"}})
    "wc -w 'a b.md'"
    """
    return _substitute(template, variables, where, _render_text, leave_unknown_roots=True)


def interpolate_json_literals(
    template: str, variables: Mapping[str, Any], *, where: str = ""
) -> str:
    """Like `interpolate`, but each value becomes its JSON literal (strings quoted), for `when`.

    There is no shell to leave `${f}` to here, so a reference to a name that is no
    variable is an error unless it has a default. A `:-` default that is valid JSON
    (`${n:-0}`) is used as that JSON value.
    """
    return _substitute(template, variables, where, _render_json_literal, leave_unknown_roots=False)
