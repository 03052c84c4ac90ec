"""The one strict cattrs converter (job files and the workflow model) and the timestamps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, is_sequence, list_structure_factory
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

T = TypeVar("T")


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_json_type(value)}")
    return value


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_json_type(value)}")
    return value


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {_json_type(value)}")
    return float(value)


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {_json_type(value)}")
    return value


def _structure_any(value: Any, _: type) -> Any:
    return value


def _json_type(value: Any) -> str:
    """How a decoded JSON value is called in an error message."""
    names: dict[type, str] = {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "an array", dict: "an object", type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _make_converter() -> cattrs.Converter:
    made = make_converter(forbid_extra_keys=True)
    made.register_structure_hook(str, _structure_str)
    made.register_structure_hook(int, _structure_int)
    made.register_structure_hook(float, _structure_float)
    made.register_structure_hook(bool, _structure_bool)
    made.register_structure_hook(Any, _structure_any)
    made.register_structure_hook_factory(attrs.has, lambda cls: _object_hook(made, cls))
    made.register_structure_hook_factory(is_sequence, lambda cls: _array_hook(made, cls))
    return made


def _array_hook(made: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    """Structure a list or tuple from a JSON array only (cattrs alone splits a string)."""
    is_tuple = cls is tuple or get_origin(cls) is tuple
    factory = homogenous_tuple_structure_factory if is_tuple else list_structure_factory
    from_list: Callable[[Any, Any], Any] = factory(cls, made)

    def structure(value: Any, target: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected an array, got {_json_type(value)}")
        return from_list(value, target)

    return structure


def _object_hook(made: cattrs.Converter, cls: type) -> Callable[[Any, type], Any]:
    """Structure an attrs class from a JSON object only (cattrs alone crashes on a list)."""
    from_dict: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls, made, _cattrs_forbid_extra_keys=True
    )

    def structure(value: Any, target: type) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {_json_type(value)}")
        return from_dict(value, target)

    return structure


converter: cattrs.Converter = _make_converter()


def to_json(obj: Any) -> str:
    """Render `obj` (attrs classes included) as compact one-line JSON.

    Non-ASCII text is written as is; a string that cannot be UTF-8 encoded (a lone
    surrogate from undecodable input) makes the whole line fall back to `\\u` escapes,
    so the result can always be written to a UTF-8 file and read back unchanged.
    """
    return json_line(converter.unstructure(obj))


# One encoder for every compact line: json.dumps with arguments builds a new one per call.
compact_json: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")).encode


def json_line(data: Any) -> str:
    """`to_json` for data that is already plain JSON values (dicts, lists, scalars)."""
    text = compact_json(data)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON text and structure it as `cls`; raises ValueError or a cattrs error."""
    return converter.structure(json.loads(text), cls)


def describe_structure_error(exc: Exception) -> str:
    """What is wrong where, one problem a clause: `$.phases.map.next_step: expected an integer`."""
    return "; ".join(f"{path}: {message}" for path, message in structure_problems(exc))


def structure_problems(exc: Exception) -> list[tuple[str, str]]:
    """Each problem of a failed `structure` as (`$.path`, message); an attrs validator's
    ValueError (raised by the class itself, outside any field) is at `$`."""
    if not isinstance(exc, cattrs.BaseValidationError):
        return [("$", str(exc))]
    problems = cattrs.transform_error(exc, path="$", format_exception=_format_problem)
    return [_path_first(problem) for problem in problems]


def _format_problem(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        return "unknown keys " + ", ".join(sorted(exc.extra_fields))
    if isinstance(exc, KeyError):
        return "required field missing"
    if get_origin(type_) is Literal:
        return "expected one of " + ", ".join(json.dumps(v) for v in get_args(type_))
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return format_exception(exc, type_)


def _path_first(problem: str) -> tuple[str, str]:
    """cattrs writes `message @ $.path`; a reader wants the path first."""
    message, at, path = problem.rpartition(" @ ")
    return (path, message) if at else ("$", problem)


def format_timestamp(moment: datetime) -> str:
    """A timestamp as the job files write it: UTC, ISO 8601, milliseconds, `Z` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """A timestamp written by `format_timestamp` (or any ISO 8601 text) as an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_now() -> str:
    """The time now, as the job files write it."""
    return format_timestamp(datetime.now(UTC))
