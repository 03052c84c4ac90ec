"""Masking secret values (`***`) out of step output, errors and events."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import attrs

MASK = "***"
# A line of a multi-line secret shorter than this is not masked on its own: masking every
# "ab" or "}" in every output would hide more than it protects.
MIN_MASKED_LINE_CHARS = 4


def secret_forms(secret: str) -> set[str]:
    r"""Every text `secret` can show up as in output, so that each can be masked.

    The secret itself and its JSON-escaped text (job files are JSON). For a multi-line
    secret also: each line (stripped), the lines joined by spaces (error messages are
    one line: stderr's lines stripped and joined) and the secret with newlines turned
    into spaces; of these, the ones of at least MIN_MASKED_LINE_CHARS characters.

    >>> sorted(secret_forms("key-1\nab"))
    ['key-1', 'key-1\nab', 'key-1 ab', 'key-1\\nab']
    """
    if not secret:
        return set()
    forms = {secret}
    if len(secret.splitlines()) > 1:
        lines = [line.strip() for line in secret.splitlines() if line.strip()]
        derived = {" ".join(lines), secret.replace("\n", " "), *lines}
        forms |= {form for form in derived if len(form.strip()) >= MIN_MASKED_LINE_CHARS}
    for form in list(forms):
        forms |= {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}
    return forms


def _all_forms(secrets: Iterable[str]) -> set[str]:
    return {form for secret in secrets for form in secret_forms(secret)}


@attrs.frozen
class SecretMasker:
    """Replaces every form of every secret (`secret_forms`) in a text with `***`, longest
    first; empty values are ignored.

    >>> SecretMasker(("hunter2",)).mask("token=hunter2")
    'token=***'
    """

    values: tuple[str, ...]
    _forms: list[str] = attrs.field(init=False, repr=False, eq=False)
    _pattern: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    @_forms.default
    def _sorted_forms(self) -> list[str]:
        return sorted(_all_forms(self.values), key=len, reverse=True)

    @_pattern.default
    def _compile(self) -> re.Pattern[str] | None:
        if not self._forms:
            return None
        return re.compile("|".join(re.escape(secret) for secret in self._forms))

    @property
    def masks_nothing(self) -> bool:
        return self._pattern is None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def safe_cut(self, text: str) -> int:
        """How much of `text`, the start of a longer stream, can be masked and let go now:
        masking it alone gives what masking the whole stream would, however it goes on.

        The end is held back by one character less than the longest secret (a secret may
        start there), and a secret found across the cut moves the cut to its start. Always
        at least 1 for a non-empty text.

        >>> masker = SecretMasker(("hunter2",))
        >>> masker.safe_cut("abcdefghijkl"), masker.safe_cut("abcdefhunter2xyz")
        (6, 6)
        """
        if self._pattern is None:
            return len(text)
        cut = len(text) - (len(self._forms[0]) - 1)
        for found in self._pattern.finditer(text, 0, len(text)):
            if found.start() >= cut:
                break
            if found.end() > cut:
                cut = found.start()
                break
        return cut if cut > 0 else len(text)

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


@functools.lru_cache(maxsize=16)
def masker_for(values: tuple[str, ...]) -> SecretMasker:
    """The masker of these secrets, made once: the orders of a map share their secrets,
    and each order would otherwise derive every form of every secret again."""
    return SecretMasker(values)
