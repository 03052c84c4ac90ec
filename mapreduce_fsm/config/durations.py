"""Durations in workflow files: seconds as numbers, or strings such as "1.5s", "2m", "500ms"."""

from __future__ import annotations

import math
import re

from mapreduce_fsm.config.messages import show_value

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m|h)?\s*\Z")

DURATION_EXAMPLES = 'a duration such as 30, "1.5s" or "2m"'


def parse_duration(value: object) -> float:
    """Seconds in `value`: 5 -> 5.0, "1.5s" -> 1.5, "2m" -> 120.0, "500ms" -> 0.5.

    Raises ValueError saying what was expected when `value` is not a finite duration > 0.

    >>> parse_duration("2m")
    120.0
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_EXAMPLES}, got {show_value(value)}")
    if isinstance(value, int | float):
        seconds = float(value) if isinstance(value, float) or abs(value) < 10**300 else math.inf
    elif isinstance(value, str) and (match := _DURATION.match(value)) is not None:
        seconds = float(match.group("number")) * _UNIT_SECONDS[match.group("unit") or "s"]
    else:
        raise ValueError(f"expected {DURATION_EXAMPLES}, got {show_value(value)}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {show_value(value)}")
    if seconds <= 0:
        raise ValueError(f"expected a duration greater than 0, got {show_value(value)}")
    return seconds
