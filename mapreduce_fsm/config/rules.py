"""The rules one field of the workflow model must satisfy, shared by the model and the loader.

A `Rule` is an attrs validator on a `config.model` field, so building the model from
Python raises ValueError; the YAML loader asks the same field for its rule
(`field_rule`) and reports the same words with the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, get_args

import attrs

from mapreduce_fsm.config.durations import parse_duration
from mapreduce_fsm.config.messages import show_value


@attrs.frozen
class Rule:
    """What a field's value must be (`what`, for messages) and the test for it."""

    what: str
    accepts: Callable[[Any], bool]
    optional: bool = False  # None is accepted too

    def problem(self, value: object) -> str | None:
        """None when `value` satisfies the rule, else `expected WHAT, got VALUE`."""
        if value is None and self.optional:
            return None
        if self.accepts(value):
            return None
        return f"expected {self.what}, got {show_value(value)}"

    def __call__(self, instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        """The attrs validator: ValueError naming the class, the field and the problem."""
        problem = self.problem(value)
        if problem is not None:
            raise ValueError(f"{type(instance).__name__}.{attribute.name}: {problem}")

    def or_none(self) -> Rule:
        return attrs.evolve(self, optional=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def whole_at_least(minimum: int) -> Rule:
    """A whole number (not a bool, not 2.0) that is at least `minimum`."""
    return Rule(what=f"a whole number ≥ {minimum}", accepts=lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum))


def number(what: str, accept: Callable[[float], bool]) -> Rule:
    """A finite int or float for which `accept` holds."""
    return Rule(what=what, accepts=lambda value: _is_number(value) and _finite(value) and accept(
        float(value)))


def _finite(value: float) -> bool:
    """Finite, and an int small enough to be a float."""
    return math.isfinite(value) if isinstance(value, float) else abs(value) < 10**300


def _is_duration(value: object) -> bool:
    if not _is_number(value):
        return False
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def one_of(choices: Any) -> Rule:
    """One of the strings of a `Literal[...]` type (the order of its arguments is the message's)."""
    options: tuple[str, ...] = get_args(choices)
    return Rule(what="one of " + ", ".join(options), accepts=lambda value: value in options)


SECONDS = Rule(what="a duration in seconds greater than 0", accepts=_is_duration)
# A wait of the retry and circuit-breaker policies: 0 means "do not wait", which Python
# callers (and the policy tests) use; a file's duration syntax asks for more than 0.
WAIT_SECONDS = number("a number of seconds ≥ 0", lambda value: value >= 0)
FRACTION = number("a number greater than 0 and at most 1", lambda value: 0 < value <= 1)
PERCENT = number("a percentage from 0 to 100", lambda value: 0 <= value <= 100)
POSITIVE = number("a number greater than 0", lambda value: value > 0)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
OCTAL_MODE = Rule(what='an octal mode in quotes such as "0644"', accepts=lambda value: (
    isinstance(value, str) and re.match(r"0?[0-7]{3,4}\Z", value) is not None))
# a dotted name (`capture: "shell.output"`) sets a field of a namespace
CAPTURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
CAPTURE_OUTPUT = Rule(what="true, false or a variable name", accepts=lambda value: (
    isinstance(value, bool) or (isinstance(value, str) and CAPTURE_NAME.match(value) is not None)))
NON_EMPTY_TEXT = Rule(what="a non-empty string", accepts=lambda value: (
    isinstance(value, str) and bool(value.strip())))


def field_rule(cls: type, name: str) -> Rule:
    """The rule on the field `name` of the attrs class `cls` (the loader checks with it)."""
    rule = attrs.fields_dict(cls)[name].validator
    if not isinstance(rule, Rule):
        raise TypeError(f"{cls.__name__}.{name} has no Rule validator")
    return rule
