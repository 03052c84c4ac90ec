"""Turning a step's output into a captured value (`capture_format`, docs/workflow-format.md §2)."""

from __future__ import annotations

import json
import math
from typing import Any

from mapreduce_fsm.config.model import CaptureFormat

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_SHOWN_CHARS = 80


class CaptureFormatError(ValueError):
    """Output that does not parse as the step's `capture_format`; the message says why."""


def strip_trailing_newlines(text: str) -> str:
    """What `$(...)` does in the shell: drop every trailing newline (and carriage return)."""
    return text.rstrip("\r\n")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def parse_capture(output: str, capture_format: CaptureFormat) -> Any:
    """The value `output` captures as: string, json, lines, number or boolean."""
    text = strip_trailing_newlines(output)
    if capture_format == "string":
        return text
    if capture_format == "lines":
        return [line for line in text.splitlines() if line.strip()]
    if capture_format == "json":
        try:
            return json.loads(text)
        except ValueError as error:
            raise CaptureFormatError(
                f"capture_format json: the output is not valid JSON ({error}): {_shown(text)}"
            ) from None
    if capture_format == "number":
        return _parse_number(text.strip())
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise CaptureFormatError(
        f"capture_format boolean: expected true/false, yes/no or 1/0, got {_shown(text)}"
    )


def _parse_number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise CaptureFormatError(f"capture_format number: expected a number, got {_shown(text)}")
    return int(number) if number.is_integer() else number
