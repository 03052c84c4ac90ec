"""How values and field paths appear in the messages about a workflow file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

# One formatter for paths into data, for the file's fields as for `${...}` references:
# ("map", "agent_template", 0, "shell") -> "map.agent_template[0].shell".
from mapreduce_fsm.expressions.interpolate import format_path

__all__ = ["Path", "format_path", "show_value"]

Path = tuple[str | int, ...]


def show_value(value: object) -> str:
    """A value as a user wrote it in YAML: "ten" quoted, true, null, 2.9, a list, a mapping."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", ".inf").replace("nan", ".nan")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return "a list"
    return str(value)
