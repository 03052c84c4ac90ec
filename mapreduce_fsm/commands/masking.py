"""Masking secret values (`***`) out of step output, errors and events."""

from __future__ import annotations

import re

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
