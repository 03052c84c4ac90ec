"""A stable grouping key for failures, so the DLQ can show "these 40 items failed the same way"."""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 160
_EXITED = re.compile(r"^exited with code -?\d+(?::\s*|$)")

# Order matters: whole tokens (uuids, times, paths, quoted text) go before the hex and
# number patterns that would otherwise chew them into pieces.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
     "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "<time>"),
    (re.compile(r"(?<![\w<])'[^'\n]*'(?!\w)|(?<![\w<])\"[^\"\n]*\"|`[^`\n]*`"), "<str>"),
    # absolute, home-relative or ./ paths; relative ones with two separators or a suffix
    (re.compile(r"(?<![\w<>])(?:~|\.{1,2})?(?:/[\w.@%+=~-]+)+/?"
                r"|(?<![\w<>/])[\w.-]+(?:/[\w.@%+=~-]+){2,}/?"
                r"|(?<![\w<>/])[\w-]+/[\w.@%+=~-]*\.\w+"), "<path>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I),
     "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)


def error_signature(error: str | None, failed_step: str | None, exit_code: int | None) -> str:
    """The step, the exit code and the error's first line with the per-item parts blanked.

    Numbers, hex ids, uuids, timestamps, paths and quoted text are replaced by `<n>`,
    `<hex>`, `<uuid>`, `<time>`, `<path>` and `<str>`, so the same failure on different
    items gives the same signature, while a different step or exit code gives another.

    >>> error_signature("cannot open /data/in/17.txt: No such file", "count", 1)
    'step "count": exit 1: cannot open <path>: No such file'
    """
    step = f'step "{failed_step}"' if failed_step else "no step"
    code = "no exit code" if exit_code is None else f"exit {exit_code}"
    return f"{step}: {code}: {_normalise(_without_step_and_code(_first_line(error), failed_step))}"


def _without_step_and_code(line: str, failed_step: str | None) -> str:
    """The message without what the signature says already: "step 'x': exited with code 4: "."""
    if failed_step:
        for named in (f"step {failed_step!r}", f'step "{failed_step}"'):
            if line.startswith(named):
                line = line.removeprefix(named).removeprefix(":").lstrip()
                break
    return _EXITED.sub("", line, count=1) or "no error output"


def _first_line(error: str | None) -> str:
    for line in (error or "").splitlines():
        if line.strip():
            return line
    return "no error message"


def _normalise(line: str) -> str:
    for pattern, placeholder in _NORMALISERS:
        line = pattern.sub(placeholder, line)
    line = " ".join(line.split())
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[: MAX_MESSAGE_CHARS - 3] + "..."
    return line
