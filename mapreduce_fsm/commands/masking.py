"""Masking secret values (`***`) out of step output, errors and events."""

from __future__ import annotations

import re
from typing import Any

import attrs

MASK = "***"


@attrs.frozen
class SecretMasker:
    """Replaces every secret value in a text with `***`, longest first; empty values are ignored.

    >>> SecretMasker(("hunter2",)).mask("token=hunter2")
    'token=***'
    """

    values: tuple[str, ...]
    _pattern: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    @_pattern.default
    def _compile(self) -> re.Pattern[str] | None:
        secrets = sorted({value for value in self.values if value}, key=len, reverse=True)
        if not secrets:
            return None
        return re.compile("|".join(re.escape(secret) for secret in secrets))

    @property
    def masks_nothing(self) -> bool:
        return self._pattern is None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """`value` with every string in it masked, through dicts (keys too) and lists.

        >>> SecretMasker(("hunter2",)).mask_value({"out": ["pw hunter2", 3]})
        {'out': ['pw ***', 3]}
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask_value(key): self.mask_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(item) for item in value]
        return value
