"""Reading `.env` files (`env_files:`): `NAME=value` lines, comments, quotes, `export`."""

from __future__ import annotations

import re

from mapreduce_fsm.errors import MapReduceError

_LINE = re.compile(r"(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)\Z")


class EnvFileError(MapReduceError):
    """A line of an env file that is not `NAME=value`; the message names file and line."""


def parse_env_file(text: str, filename: str) -> dict[str, str]:
    """The variables of a `.env` file, in order; later lines win.

    >>> parse_env_file('A=1\\n# note\\nexport B="two words"\\nC=x # tail\\n', ".env")
    {'A': '1', 'B': 'two words', 'C': 'x'}
    """
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise EnvFileError(f"{filename}, line {number}: expected NAME=value, "
                               f"got {stripped[:60]!r}")
        variables[match.group("name")] = _value(match.group("value"), filename, number)
    return variables


def _value(raw: str, filename: str, number: int) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end < 0:
            raise EnvFileError(f"{filename}, line {number}: the {quote} quote is not closed")
        inner = raw[1:end]
        return inner.replace("\\n", "\n") if quote == '"' else inner
    return raw.split(" #", 1)[0].strip()
