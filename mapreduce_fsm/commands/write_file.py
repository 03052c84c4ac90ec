"""The `write_file` step: interpolate a path and content, serialise, write, chmod."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mapreduce_fsm.config.model import WriteFileSpec
from mapreduce_fsm.expressions.interpolate import interpolate, render_value


class WriteFileError(Exception):
    """A file that could not be written; the message says which and why."""


def _interpolate_strings(value: Any, variables: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, str):
        return interpolate(value, variables, where=where)
    if isinstance(value, Mapping):
        return {
            _interpolate_strings(key, variables, where): _interpolate_strings(v, variables, where)
            for key, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_interpolate_strings(item, variables, where) for item in value]
    return value


def render_content(spec: WriteFileSpec, variables: Mapping[str, Any], where: str) -> str:
    """The text to write. Text content is interpolated as is; structured json/yaml content has
    every string inside interpolated, then is serialised; string json/yaml content is
    interpolated and must then parse."""
    content = _interpolate_strings(spec.content, variables, where)
    if spec.format == "text" or isinstance(content, str):
        text = render_value(content)
        if spec.format != "text":
            _check_parses(text, spec)
        return text
    if spec.format == "json":
        return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True)


def _check_parses(text: str, spec: WriteFileSpec) -> None:
    try:
        if spec.format == "json":
            json.loads(text)
        else:
            yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WriteFileError(
            f"the content for {spec.path!r} is not valid {spec.format} after interpolation: "
            f"{first_line}"
        ) from None


def _parse_mode(mode: str) -> int:
    try:
        value = int(mode, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise WriteFileError(f"mode {mode!r} is not an octal file mode such as \"0644\"")
    return value


def write_step_file(
    spec: WriteFileSpec, variables: Mapping[str, Any], base_dir: Path, where: str
) -> Path:
    """Write the file (relative paths under `base_dir`) and return where it went."""
    path = base_dir / interpolate(spec.path, variables, where=where)
    if "\0" in str(path):
        raise WriteFileError(f"the path {str(path)!r} holds a NUL byte, which no file name can")
    text = render_content(spec, variables, where)
    mode = _parse_mode(spec.mode) if spec.mode is not None else None
    if spec.create_dirs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WriteFileError(
                f"cannot create directory {str(path.parent)!r}: {error.strerror or error}"
            ) from None
    elif not path.parent.is_dir():
        raise WriteFileError(
            f"directory {str(path.parent)!r} does not exist (set create_dirs: true to create it)"
        )
    try:
        path.write_text(text, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
    except OSError as error:
        raise WriteFileError(f"cannot write {str(path)!r}: {error.strerror or error}") from None
    return path
