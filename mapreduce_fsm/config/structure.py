"""The cattrs converter that turns normalised workflow data into the attrs model, strictly."""

from __future__ import annotations

from typing import Any

import cattrs
from cattrs.errors import ClassValidationError

from mapreduce_fsm.config.model import Workflow


def _strict(kind: type, *also: type) -> Any:
    accepted = (kind, *also)

    def structure(value: Any, _: type) -> Any:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return kind(value)

    return structure


def _text_or_flag(value: Any, _: type) -> bool | str:
    if not isinstance(value, bool | str):
        raise TypeError(f"expected bool or str, got {type(value).__name__}")
    return value


def make_converter() -> cattrs.Converter:
    """A converter that rejects extra keys and never coerces: "no" is no bool, 2.9 no int."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(bool, _strict(bool))
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(float, _strict(float, int))
    converter.register_structure_hook(str, _strict(str))
    converter.register_structure_hook(bool | str, _text_or_flag)
    return converter


CONVERTER = make_converter()


def structure_workflow(data: dict[str, Any]) -> tuple[Workflow | None, list[str]]:
    """The model for `data`, or the cattrs error messages (with `$.path`) when it does not fit."""
    try:
        return CONVERTER.structure(data, Workflow), []
    except ClassValidationError as error:
        return None, cattrs.transform_error(error)
