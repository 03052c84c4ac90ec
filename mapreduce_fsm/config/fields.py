"""Checking one field of a workflow file: mappings, strings, flags, choices, numbers, durations.

Every check records a `ConfigIssue` (with the line of the value) and returns None when the
value is wrong, so a loader goes on and reports every problem of a file at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import attrs

from mapreduce_fsm.config.durations import DURATION_EXAMPLES, parse_duration
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.rules import IDENTIFIER, Rule
from mapreduce_fsm.config.yamlsource import YamlDocument
from mapreduce_fsm.errors import ConfigIssue

T = TypeVar("T")

_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))\Z"
)
_WHOLE = re.compile(r"\s*[+-]?\d+\s*\Z")


@attrs.define
class FieldReader:
    """Reads fields out of a `YamlDocument`, collecting issues; `env` resolves `"$VAR"`."""

    document: YamlDocument
    environ: Mapping[str, str]
    env: dict[str, str] = attrs.field(factory=dict)
    issues: list[ConfigIssue] = attrs.field(factory=list)

    def report(self, path: Path, message: str, *, at_key: bool = False) -> None:
        if path in self.document.unreadable:
            return  # its YAML error says what is wrong already
        self.issues.append(self.document.issue(path, message, at_key=at_key))

    def expected(self, path: Path, what: str, value: object) -> None:
        self.report(path, f"expected {what}, got {show_value(value)}")

    def mapping(
        self, value: object, path: Path, known: Collection[str], *,
        required: Collection[str] = (), what: str = "a mapping",
    ) -> dict[str, Any] | None:
        """`value` as a mapping whose keys are all in `known`; reports unknown and missing keys."""
        if not isinstance(value, dict):
            self.expected(path, what, value)
            return None
        for key in value:
            if key not in known:
                hint = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                message = f"unknown key, did you mean {hint[0]}?" if hint else "unknown key"
                self.report((*path, key), message, at_key=True)
        for key in required:
            if key not in value:
                self.report(path, f"missing required key {key}")
        return {key: item for key, item in value.items() if key in known}

    def items_of(self, value: object, path: Path, what: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.expected(path, what, value)
            return None
        return value

    def text(self, value: object, path: Path, *, non_empty: bool = False) -> str | None:
        if not isinstance(value, str):
            self.expected(path, "a string", value)
            return None
        if non_empty and not value.strip():
            self.report(path, "expected a non-empty string, got \"\"")
            return None
        return value

    def scalar_text(self, value: object, path: Path) -> str | None:
        """A string, number or boolean rendered as text: numbers as written, true/false."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return self.document.scalar_texts.get(path, str(value))
        self.expected(path, "a string, number or boolean", value)
        return None

    def flag(self, value: object, path: Path) -> bool | None:
        if not isinstance(value, bool):
            self.expected(path, "true or false", value)
            return None
        return value

    def checked(self, value: object, path: Path, rule: Rule) -> Any:
        """`value` when it satisfies `rule` (a model field's, see `rules.field_rule`), else None."""
        # null is no value in a file, even for a field the model lets be None
        problem = rule.problem(value) if value is not None else f"expected {rule.what}, got null"
        if problem is not None:
            self.report(path, problem)
            return None
        return value

    def identifier(self, value: object, path: Path, what: str) -> str | None:
        if not isinstance(value, str) or IDENTIFIER.match(value) is None:
            self.expected(path, f"{what} (letters, digits and _, not starting with a digit)",
                          value)
            return None
        return value

    def whole(self, value: object, path: Path, rule: Rule) -> int | None:
        """A whole number satisfying `rule`; `"$VAR"` is looked up in env, then the environment."""

        def convert(candidate: object) -> int | None:
            if isinstance(candidate, str) and _WHOLE.match(candidate):
                candidate = int(candidate)
            return candidate if isinstance(candidate, int) and rule.accepts(candidate) else None

        return self._resolved(value, path, rule.what, convert)

    def number(self, value: object, path: Path, rule: Rule) -> float | None:
        """A number (int or float) satisfying `rule`, as a float; `"$VAR"` allowed."""

        def convert(candidate: object) -> float | None:
            if isinstance(candidate, str):
                try:
                    candidate = float(candidate)
                except ValueError:
                    return None
            if isinstance(candidate, int | float) and rule.accepts(candidate):
                return float(candidate)
            return None

        return self._resolved(value, path, rule.what, convert)

    def duration(self, value: object, path: Path) -> float | None:
        """Seconds from 30, "1.5s", "2m", "1h", "500ms" or `"$VAR"`; must be > 0."""
        variable = _variable_name(value)
        if variable is None:
            try:
                return parse_duration(value)
            except ValueError as error:
                self.report(path, str(error))
                return None

        def convert(candidate: object) -> float | None:
            try:
                return parse_duration(candidate)
            except ValueError:
                return None

        return self._resolved(value, path, DURATION_EXAMPLES + " (greater than 0)", convert)

    def _resolved(
        self, value: object, path: Path, what: str, convert: Callable[[object], T | None],
    ) -> T | None:
        variable = _variable_name(value)
        if variable is None:
            if isinstance(value, str) or (converted := convert(value)) is None:
                self.expected(path, what, value)
                return None
            return converted
        text = self.env.get(variable, self.environ.get(variable))
        if text is None:
            self.report(path, f"{value} is not set: {variable} is neither in env: "
                              "nor in the environment")
            return None
        converted = convert(text)
        if converted is None:
            self.report(path, f"{value} is {show_value(text)}, expected {what}")
        return converted


def _variable_name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = _VARIABLE.match(value.strip())
    if match is None:
        return None
    return match.group("braced") or match.group("bare")
