"""`setup.capture_outputs`: take a named variable out of one setup step's output."""

from __future__ import annotations

import json
import re
from typing import Any

from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import CaptureSpec
from mapreduce_fsm.expressions.jsonpath import apply_json_path


def _source_text(spec: CaptureSpec, result: StepResult) -> str:
    if spec.source == "stderr":
        return result.stderr
    if spec.source == "both":
        return result.stdout + result.stderr
    return result.stdout


def _shape(spec: CaptureSpec, text: str) -> Any:
    lines = text.splitlines()
    if spec.multiline == "first_line":
        return lines[0] if lines else ""
    if spec.multiline == "last_line":
        return lines[-1] if lines else ""
    if spec.multiline == "join":
        return " ".join(line.strip() for line in lines if line.strip())
    if spec.multiline == "array":
        return [line for line in lines if line.strip()]
    return text.rstrip("\n")


def extract_capture(spec: CaptureSpec, result: StepResult) -> Any:
    """The captured value: by `pattern` (group 1 if any), else by `json_path`, else the text.

    When the pattern or path finds nothing, `default` is used (or an empty string).
    """
    text = _source_text(spec, result)
    missing = spec.default if spec.default is not None else ""
    if spec.pattern is not None:
        match = re.search(spec.pattern, text, flags=re.MULTILINE)
        if match is None:
            return missing
        return match.group(1) if match.re.groups else match.group(0)
    if spec.json_path is not None:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            return missing
        found, _warnings = apply_json_path(document, spec.json_path)
        if not found:
            return missing
        return found[0] if len(found) == 1 else found
    return _shape(spec, text)
