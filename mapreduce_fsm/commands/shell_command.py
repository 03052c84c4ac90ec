"""A `shell` step's command with its `${...}` rendered so that no value becomes shell syntax.

Each value reaches `sh` in an environment variable of the step (`MRF_V0`, `MRF_V1`, ...;
equal values share one), and the command refers to it in the way that fits the quoting
where the `${...}` stands:

- unquoted, in `"..."`, in an unquoted heredoc (`<<EOF`), in `$(...)` or backticks:
  `${MRF_V0}`. Unquoted, the value splits into words and globs exactly as a shell
  variable `$V` does (so `for f in ${shell.output}` still loops over words), but its
  quotes, `;`, `$(...)` or newlines never run.
- in `'...'`: `'"${MRF_V0}"'` (close the quote, the variable double-quoted, reopen).
- in a quoted heredoc (`<<'EOF'`), which the shell does not expand: the value's text.
  A value that would put a line equal to the delimiter in the body is refused.
- in `$((...))` arithmetic: the value's text, which must be an integer.

`${x|sh}` (already quoted) and `${x|raw}` (a value meant as code) are inserted as text.
When the value is missing or null, a `:-default` is inserted as shell text: the workflow
author wrote it, as with the shell's own `${VAR:-word}`. A backslash before a `${...}`
(which used to escape the value's first character) is dropped unquoted and kept as a
literal backslash in double quotes and heredocs, as it was for ordinary values.

Linux limits one environment string to 128 KiB (MAX_ARG_STRLEN): a larger value is an
error that says so and suggests a file.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

import attrs

from mapreduce_fsm.config.model import Workflow, every_step
from mapreduce_fsm.errors import InterpolationError
from mapreduce_fsm.expressions.interpolate import (
    Reference,
    find_references,
    is_substituted,
    lookup,
    reference_value,
    render_value,
    scan_references,
)

ENV_PREFIX = "MRF_V"
MAX_ENV_STRING_BYTES = 128 * 1024  # MAX_ARG_STRLEN: one "NAME=value" string, NUL included

# Lexer states: unquoted ones (top level, $(...), `...`, unquoted ${...}), expanding
# ones ("...", an unquoted heredoc body, ${...} inside "..."), single quotes, arithmetic.
_UNQUOTED, _SUBSHELL, _BACKTICK, _PARAM = "unquoted", "$(", "`", "${"
_DOUBLE, _HEREDOC, _DOUBLE_PARAM = '"', "<<", '"${'
_SINGLE, _ARITH, _ARITH_PAREN, _LITERAL = "'", "$((", "(", "<<'"
_UNQUOTED_STATES = frozenset({_UNQUOTED, _SUBSHELL, _BACKTICK, _PARAM})
_HEREDOC_OPERATOR = re.compile(
    r"<<(?P<dash>-?)[ \t]*(?P<word>(?:[^\s;&|()<>'\"\\]|'[^']*'|\"[^\"]*\"|\\.)+)"
)
_INTEGER = re.compile(r"[+-]?\d+")


@attrs.frozen(kw_only=True)
class ShellCommand:
    """The text `sh -c` runs and the environment variables holding the values it refers to."""

    text: str
    env: Mapping[str, str]


@attrs.frozen
class _Heredoc:
    delimiter: str
    quoted: bool  # <<'EOF': the body is not expanded
    strip_tabs: bool  # <<-EOF

    def ends_at(self, line: str) -> bool:
        return (line.lstrip("\t") if self.strip_tabs else line) == self.delimiter


def render_shell_command(
    template: str, variables: Mapping[str, Any], *, where: str = ""
) -> ShellCommand:
    """`template` with every `${...}` made safe (see the module docstring).

    >>> render_shell_command("echo '${item}'", {"item": "it's"})
    ShellCommand(text='echo \\'\\'"${MRF_V0}"\\'\\'', env={'MRF_V0': "it's"})
    """
    renderer = _Renderer(variables, where)
    text = renderer.render(template, _UNQUOTED)
    return ShellCommand(text=text, env={name: value for value, name in renderer.names.items()})


class _Renderer:
    def __init__(self, variables: Mapping[str, Any], where: str) -> None:
        self.variables = variables
        self.where = where
        self.names: dict[str, str] = {}  # value -> its environment variable

    def _spans(self, text: str) -> dict[int, tuple[int, Reference]]:
        return {
            start: (end, reference)
            for start, end, reference in scan_references(text)
            if reference is not None and is_substituted(reference, self.variables)
        }

    def render(self, text: str, state: str) -> str:
        spans, out, stack = self._spans(text), [], [state]
        pending: list[_Heredoc] = []
        index = 0
        while index < len(text):
            if index in spans:
                end, reference = spans[index]
                out.append(self._insert(reference, stack[-1]))
                index = end
                continue
            state, char = stack[-1], text[index]
            step = 1
            if char == "\\" and index + 1 in spans:  # `\${v}` escaped the value's first char
                out.append("" if state in _UNQUOTED_STATES else "\\\\")
                index += 1
                continue
            if char == "\\":
                step = 2
            elif char == "$" and state != _SINGLE:
                step = _open_dollar(text, index, stack)
            elif state in _UNQUOTED_STATES:
                if char == "'":
                    index = self._single_quoted(text, index, spans, out)
                    continue
                if char == "#" and (index == 0 or text[index - 1] in " \t\n;&|()"):
                    index = self._comment(text, index, spans, out)
                    continue
                if char == "<" and (match := _HEREDOC_OPERATOR.match(text, index)):
                    pending.append(_heredoc(match))
                    step = match.end() - index
                elif char == "\n" and pending:
                    out.append("\n")
                    index = self._heredoc_bodies(text, index + 1, pending, out)
                    pending = []
                    continue
                else:
                    _unquoted_char(char, stack)
            elif state in (_DOUBLE, _HEREDOC, _DOUBLE_PARAM):
                if (char == '"' and state == _DOUBLE) or (char == "}" and state == _DOUBLE_PARAM):
                    stack.pop()
                elif char == "`":
                    stack.append(_BACKTICK)
            elif state in (_ARITH, _ARITH_PAREN):
                step = _arith_char(text, index, stack)
            out.append(text[index : index + step])
            index += step
        return "".join(out)

    def _single_quoted(
        self, text: str, index: int, spans: Mapping[int, tuple[int, Reference]], out: list[str]
    ) -> int:
        """Copy `'...'` from `text[index]`; the index after its closing quote."""
        out.append("'")
        index += 1
        while index < len(text) and text[index] != "'":
            if index in spans:
                end, reference = spans[index]
                out.append(self._insert(reference, _SINGLE))
                index = end
            else:
                out.append(text[index])
                index += 1
        if index < len(text):
            out.append("'")
        return index + 1

    def _comment(
        self, text: str, index: int, spans: Mapping[int, tuple[int, Reference]], out: list[str]
    ) -> int:
        """Copy a `# ...` comment up to its newline (quotes in it mean nothing)."""
        while index < len(text) and text[index] != "\n":
            if index in spans:
                end, reference = spans[index]
                out.append(self._insert(reference, _UNQUOTED))
                index = end
            else:
                out.append(text[index])
                index += 1
        return index

    def _heredoc_bodies(
        self, text: str, index: int, pending: list[_Heredoc], out: list[str]
    ) -> int:
        """Copy each pending heredoc's body and terminator line; the index after them."""
        for heredoc in pending:
            end = index
            while end < len(text):
                line_end = text.find("\n", end)
                line_end = len(text) if line_end == -1 else line_end
                if heredoc.ends_at(text[end:line_end]):
                    break
                end = line_end + 1
            body = text[index:end]
            out.append(self._literal_body(body, heredoc) if heredoc.quoted
                       else self.render(body, _HEREDOC))
            terminator_end = text.find("\n", end)
            terminator_end = len(text) if terminator_end == -1 else terminator_end + 1
            out.append(text[end:terminator_end])
            index = terminator_end
        return index

    def _literal_body(self, body: str, heredoc: _Heredoc) -> str:
        pieces, cursor = [], 0
        inserted: list[Reference] = []
        for start, (end, reference) in sorted(self._spans(body).items()):
            if start < cursor:
                continue
            pieces += [body[cursor:start], self._insert(reference, _LITERAL)]
            inserted.append(reference)
            cursor = end
        rendered = "".join([*pieces, body[cursor:]])
        if inserted and any(heredoc.ends_at(line) for line in rendered.split("\n")):
            names = ", ".join(reference.text for reference in inserted)
            raise InterpolationError(
                f"{self._prefix}a value inserted by {names} puts the line "
                f"{heredoc.delimiter!r} in a here-document <<'{heredoc.delimiter}', which "
                f"would end it early and run the rest as commands; write <<{heredoc.delimiter} "
                "(unquoted), where values are passed safely, or choose another delimiter"
            )
        return rendered

    @property
    def _prefix(self) -> str:
        return f"{self.where}: " if self.where else ""

    def _insert(self, reference: Reference, state: str) -> str:
        filters = reference.filters
        as_code = "raw" in filters or (bool(filters) and filters[-1] == "sh")
        text_context = state not in (_SINGLE, _LITERAL, _ARITH, _ARITH_PAREN)
        if not filters and text_context and reference.default is not None \
                and self._is_missing(reference):
            return self.render(reference.default, state)  # the author's shell text
        value = render_value(reference_value(reference, self.variables, where=self.where))
        if as_code or state == _LITERAL:
            return str(value)
        if state in (_ARITH, _ARITH_PAREN):
            if _INTEGER.fullmatch(value.strip()) is None:
                raise InterpolationError(
                    f"{self._prefix}{reference.text} stands in $((...)) arithmetic, so its "
                    f"value must be an integer, not {_preview(value)}"
                )
            return value.strip()
        name = self._variable_for(value, reference)
        return f"'\"${{{name}}}\"'" if state == _SINGLE else f"${{{name}}}"

    def _is_missing(self, reference: Reference) -> bool:
        try:
            return lookup(self.variables, reference.path) is None
        except InterpolationError:
            return True

    def _variable_for(self, value: str, reference: Reference) -> str:
        if value in self.names:
            return self.names[value]
        name = f"{ENV_PREFIX}{len(self.names)}"
        if "\x00" in value:
            raise InterpolationError(
                f"{self._prefix}the value of {reference.text} holds a NUL character, "
                "which no program's environment or arguments can carry"
            )
        size = len(os.fsencode(f"{name}={value}")) + 1
        if size > MAX_ENV_STRING_BYTES:
            raise InterpolationError(
                f"{self._prefix}the value of {reference.text} is {size} bytes; a shell step "
                "gets each value in an environment variable, and Linux limits one to 128 KiB "
                "(MAX_ARG_STRLEN). Write the value to a file (a write_file step) and read "
                "the file in the shell step"
            )
        self.names[value] = name
        return name


def _preview(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _heredoc(match: re.Match[str]) -> _Heredoc:
    word = match.group("word")
    try:
        delimiter = "".join(shlex.split(word))
    except ValueError:
        delimiter = word
    return _Heredoc(delimiter=delimiter, quoted=any(c in word for c in "'\"\\"),
                    strip_tabs=bool(match.group("dash")))


def _open_dollar(text: str, index: int, stack: list[str]) -> int:
    """Enter `$((`, `$(` or `${` at `text[index]`; how many characters to copy."""
    if text.startswith("$((", index):
        stack.append(_ARITH)
        return 3
    if text.startswith("$(", index):
        stack.append(_SUBSHELL)
        return 2
    if text.startswith("${", index):
        stack.append(_PARAM if stack[-1] in _UNQUOTED_STATES else _DOUBLE_PARAM)
        return 2
    return 2 if text.startswith("$$", index) else 1


def _unquoted_char(char: str, stack: list[str]) -> None:
    state = stack[-1]
    if char == '"':
        stack.append(_DOUBLE)
    elif char == "`":
        if state == _BACKTICK:
            stack.pop()
        else:
            stack.append(_BACKTICK)
    elif char == "(" and state == _SUBSHELL:
        stack.append(_SUBSHELL)  # a parenthesis inside $(...) nests until its ")"
    elif (char == ")" and state == _SUBSHELL) or (char == "}" and state == _PARAM):
        stack.pop()


def _arith_char(text: str, index: int, stack: list[str]) -> int:
    char = text[index]
    if char == "(":
        stack.append(_ARITH_PAREN)
    elif char == ")" and stack[-1] == _ARITH_PAREN:
        stack.pop()
    elif text.startswith("))", index) and stack[-1] == _ARITH:
        stack.pop()
        return 2
    return 1


def raw_insertion_notes(workflow: Workflow) -> list[str]:
    """One note per `${...|raw}` in a shell step: the places a value runs as shell code."""
    steps = (
        *(workflow.setup.commands if workflow.setup is not None else ()),
        *workflow.map.agent_template,
        *(workflow.reduce.commands if workflow.reduce is not None else ()),
    )
    return [
        f"note: step {step.label!r} inserts {reference.text} as shell code"
        for step in every_step(steps)
        for reference in find_references(step.shell or "")
        if "raw" in reference.filters
    ]
