"""Interpolated values in `shell` steps never become shell syntax (issue 12), `|raw` does.

"Exact" means: in double quotes, single quotes and heredocs the value comes out byte for
byte; unquoted, it comes out as the fields a shell variable `$V` would give: split on
space, tab and newline (IFS), and globbed -- the steps run in a directory where no
pattern matches, so a `*` stays as written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce_fsm.commands import StepContext, StepResult, run_step
from mapreduce_fsm.config.model import Step

SENTINEL = "INJECTED"
INJECTIONS = [
    f"$(touch {SENTINEL})", f"`touch {SENTINEL}`", f"; touch {SENTINEL}", f"| touch {SENTINEL}",
    f"&& touch {SENTINEL}", f"x\ntouch {SENTINEL}", f"'; touch {SENTINEL}; '",
    f"\"; touch {SENTINEL}; \"", f"' $(touch {SENTINEL}) '", f"\" `touch {SENTINEL}` \"",
    f"EOF\ntouch {SENTINEL}\nEOF", f"> {SENTINEL}", f"}}; touch {SENTINEL}; {{",
]
HOSTILE = [
    *INJECTIONS, "it's", 'say "hi"', "*", "~", "~/x", "$HOME", "${HOME}", "back\\slash",
    "bang!", "# not a comment", "a > b", "a < b", "tab\there", "", "ünïcödé ✓ 日本",
    "two  spaces", "line1\nline2\n", "-n", "$((1+2))", "$1 $@ $$", "x" * (100 * 1024),
]
IFS_SPLIT = re.compile("[ \t\n]+")


def run(step: Step, variables: Mapping[str, Any], cwd: Path) -> StepResult:
    return asyncio.run(run_step(step, variables, StepContext(cwd=cwd)))


def fields(value: str) -> list[str]:
    """The words `for w in $V` gives when no glob matches: IFS splitting, empty ones dropped."""
    return [word for word in IFS_SPLIT.split(value) if word]


FORMS = {
    "bare": ("for w in ${item.v}; do printf '<%s>' \"$w\"; done",
             lambda v: "".join(f"<{w}>" for w in fields(v))),
    "double-quoted": ("printf '%s' \"${item.v}\"", lambda v: v),
    "single-quoted": ("printf '%s' '${item.v}'", lambda v: v),
    "mixed quotes": ("printf '%s' \"[${item.v}]\"'[${item.v}]'", lambda v: f"[{v}][{v}]"),
    "heredoc": ("cat <<EOF\n${item.v}\nEOF", lambda v: v + "\n"),
    "quoted heredoc": ("cat <<'EOF'\n${item.v}\nEOF", lambda v: v + "\n"),
    "command substitution": ("printf '%s' \"$(printf '%s' \"${item.v}\")\"",
                             lambda v: v.rstrip("\n")),
    "backticks": ("printf '%s' \"`printf '%s' \"${item.v}\"`\"", lambda v: v.rstrip("\n")),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:20]))
def test_hostile_value_comes_out_exact_and_runs_nothing(
    form: str, value: str, tmp_path: Path
) -> None:
    template, expected = FORMS[form]
    result = run(Step(shell=template), {"item": {"v": value}}, tmp_path)
    if form == "quoted heredoc" and "\nEOF" in value:  # it would end the heredoc: refused
        assert result.status == "failed" and "here-document" in (result.error or "")
    else:
        assert result.status == "success", result.error
        assert result.stdout == expected(value)
    assert not (tmp_path / SENTINEL).exists()


@settings(max_examples=60, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\x00")))
def test_any_string_comes_out_exact_in_quotes_and_heredocs(value: str) -> None:
    step = Step(shell="printf '%s|' \"${item.v}\" '${item.v}'; cat <<EOF\n${item.v}\nEOF")
    result = asyncio.run(run_step(step, {"item": {"v": value}}, StepContext(cwd=Path.cwd())))
    assert result.status == "success", result.error
    assert result.stdout == f"{value}|{value}|{value}\n"


def test_value_ending_quoted_heredoc_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    step = Step(shell="cat <<'EOF'\n${item.v}\nEOF")
    result = run(step, {"item": {"v": f"EOF\ntouch {SENTINEL}"}}, tmp_path)
    assert result.status == "failed"
    assert "${item.v}" in (result.error or "") and "'EOF'" in (result.error or "")
    assert not (tmp_path / SENTINEL).exists()


def test_quoted_heredoc_with_tab_stripping_keeps_the_text(tmp_path: Path) -> None:
    step = Step(shell="cat <<-'END'\n\t${item.v}\n\tEND\necho after")
    result = run(step, {"item": {"v": "$(touch INJECTED) `x` 'q'"}}, tmp_path)
    assert result.stdout == "$(touch INJECTED) `x` 'q'\nafter\n"
    assert not (tmp_path / SENTINEL).exists()


def test_two_heredocs_on_one_line_and_one_inside_command_substitution(tmp_path: Path) -> None:
    step = Step(shell="cat <<A; cat <<'B'\n${item.v}\nA\n${item.v}\nB\n"
                      "printf '[%s]' \"$(cat <<C\n${item.v}\nC\n)\"")
    value = "a'b\"c$(touch INJECTED)"
    result = run(step, {"item": {"v": value}}, tmp_path)
    assert result.stdout == f"{value}\n{value}\n[{value}]"
    assert not (tmp_path / SENTINEL).exists()


def test_arithmetic_takes_integers_and_refuses_anything_else(tmp_path: Path) -> None:
    step = Step(shell="echo $(( ${item.n} * (2 + ${item.m}) ))")
    assert run(step, {"item": {"n": 3, "m": "-1"}}, tmp_path).stdout == "3\n"
    hostile = run(step, {"item": {"n": "a[$(touch INJECTED)]", "m": 1}}, tmp_path)
    assert hostile.status == "failed"
    assert "${item.n}" in (hostile.error or "") and "integer" in (hostile.error or "")
    assert not (tmp_path / SENTINEL).exists()


def test_apostrophe_in_a_comment_does_not_flip_the_quoting(tmp_path: Path) -> None:
    step = Step(shell="# don't worry\nprintf '%s' \"${item.v}\" # it's ${item.v}\n")
    result = run(step, {"item": {"v": "a'b; touch INJECTED"}}, tmp_path)
    assert result.stdout == "a'b; touch INJECTED"
    assert not (tmp_path / SENTINEL).exists()


def test_raw_filter_inserts_shell_code_and_sh_filter_still_quotes(tmp_path: Path) -> None:
    step = Step(shell="${item.code|raw}; printf '%s' ${item.v|sh}")
    result = run(step, {"item": {"code": "printf '%s|' one two", "v": "x $(y)"}}, tmp_path)
    assert result.stdout == "one|two|x $(y)"


def test_shells_own_parameter_expansions_stay_and_nested_values_are_safe(tmp_path: Path) -> None:
    step = Step(shell='f=abc.txt; printf "%s|" "${f%.txt}" "${UNSET_VAR_X:-${item.v}}"')
    result = run(step, {"item": {"v": "q'$(touch INJECTED)"}}, tmp_path)
    assert result.stdout == "abc|q'$(touch INJECTED)|"
    assert not (tmp_path / SENTINEL).exists()


def test_a_default_is_shell_text_written_by_the_author(tmp_path: Path) -> None:
    step = Step(shell='HOME=/h; printf "%s|" ${item.dir:-$HOME/x} "${item.none:-a b}"')
    result = run(step, {"item": {"none": None}}, tmp_path)
    assert result.stdout == "/h/x|a b|"


def test_equal_values_share_one_variable_so_a_large_value_fits_twice(tmp_path: Path) -> None:
    value = "v" * (120 * 1024)
    step = Step(shell='test "${item.v}" = "${item.v}" && printf %s "${item.v}" | wc -c')
    assert run(step, {"item": {"v": value}}, tmp_path).stdout.strip() == str(len(value))


def test_value_too_large_for_the_environment_names_the_limit(tmp_path: Path) -> None:
    result = run(Step(shell='printf %s "${item.v}"'), {"item": {"v": "x" * (129 * 1024)}},
                 tmp_path)
    assert result.status == "failed"
    assert "${item.v}" in (result.error or "") and "MAX_ARG_STRLEN" in (result.error or "")
    assert "128 KiB" in (result.error or "")


ORDINARY_TEMPLATES = [
    "echo ${item.name}", 'echo "${item.name}"', "echo '${item.name}'",
    "for w in ${item.words}; do echo \"<$w>\"; done", "X=${item.name}; echo $X-${item_index}",
    "cat <<EOF\nname: ${item.name}\nEOF", "echo $(( ${item_index} + 1 ))",
    "echo ${item.n} ${item.ok} [${item.none}]", "echo ${item.owner:-nobody}",
    "printf '%s\\n' ${item.name|sh} '${item.tags|json}'",
]


@pytest.mark.parametrize("template", ORDINARY_TEMPLATES)
def test_ordinary_values_give_the_same_output_as_plain_text_insertion(
    template: str, tmp_path: Path
) -> None:
    from mapreduce_fsm.expressions.interpolate import interpolate

    variables = {"item_index": 4, "item": {"name": "report-2024_v1.md", "words": "a b  c",
                                           "tags": ["x", "y"], "n": 2.5, "ok": True,
                                           "none": None}}
    old = run(Step(shell=interpolate(template, variables)), {}, tmp_path)
    new = run(Step(shell=template), variables, tmp_path)
    assert new.status == old.status == "success", (new.error, old.error)
    assert new.stdout == old.stdout


def test_json_reaches_the_command_as_json_even_unquoted(tmp_path: Path) -> None:
    """Text insertion used to let the shell eat JSON's quotes: `echo ${item|json}` gave {a:1}."""
    step = Step(shell="printf '%s' ${item|json}")
    assert run(step, {"item": {"a": "x"}}, tmp_path).stdout == '{"a":"x"}'


@pytest.mark.parametrize(("template", "expected"), [
    ("printf '%s' \\${item.v}", "abc"), ("printf '%s' \"\\${item.v}\"", "\\ab c"),
    ("cat <<EOF\n\\${item.v}\nEOF", "\\ab c\n"),
])
def test_a_backslash_before_a_reference_gives_what_plain_insertion_gave(
    template: str, expected: str, tmp_path: Path
) -> None:
    """Inserted as text, `\\${v}` escaped the value's first character: for an ordinary
    value, unquoted that left the value (here split in two words), in double quotes or a
    heredoc a backslash and the value."""
    result = run(Step(shell=template), {"item": {"v": "ab c"}}, tmp_path)
    assert result.stdout == expected
