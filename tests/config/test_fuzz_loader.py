"""Fuzzing the workflow loader: mutated files give WorkflowFileError (or load), never a crash.

Every example goes through what `mapreduce-fsm validate` does: `load_workflow(path)` then
`build_phases`. Only `MapReduceError` may escape, and each file must be judged quickly.
`FUZZ_EXAMPLES=10000 pytest tests/config/test_fuzz_loader.py` runs a long campaign.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapreduce_fsm.config import load_workflow
from mapreduce_fsm.errors import MapReduceError
from mapreduce_fsm.phases.registry import build_phases

ROOT = Path(__file__).parents[2]
SEED_FILES = sorted([*(ROOT / "mapreduce_fsm" / "examples").glob("*.yml"),
                     *(ROOT / "tests" / "config" / "fixtures").glob("*.yml")])
SEEDS = [path.read_text(encoding="utf-8") for path in SEED_FILES]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
# CPU seconds, so other processes on a busy machine do not count: a file takes milliseconds,
# the worst nesting a few hundredths, and the alias bomb took 35 s.
CPU_SECONDS_PER_FILE = 2.0

KEYS = ["name", "mode", "env", "secrets", "setup", "map", "reduce", "error_policy",
        "custom_phases", "on_item_failure", "continue_on_failure", "max_failures",
        "failure_threshold", "retry_config", "circuit_breaker", "commands", "timeout",
        "capture_outputs", "input", "json_path", "filter", "sort_by", "distinct", "offset",
        "max_items", "id_field", "max_parallel", "agent_timeout_secs", "agent_template",
        "when", "confirm", "shell", "claude", "on_failure", "capture_output",
        "capture_format", "max_attempts", "backoff", "type", "options", "after", "before"]
ODD_VALUES = [
    "null", "~", "[]", "{}", "[1, 2]", "{a: 1}", "true", "false", "no", '"no"', "yes", "on",
    "0", "-1", "99999999999999999999999999999999", "1e400", "-.inf", ".nan", "1.5", "0x1f",
    "0o17", "1_000", "12:30:45", "2024-13-45", "2024-01-01", "!!timestamp not-a-date",
    "!!timestamp", "!!bool maybe", "!!int", "!!int abc", "!!float", "!!binary AAAA",
    "!!binary '###'", "!!null x", "!!str [1]", "!!python/object:os.system {}",
    "!!python/name:os.system ''", "!!set {a, b}", "!!omap [{a: 1}]", "!!pairs [{a: 1}]",
    "!!merge x", "!custom x", "*undefined", "&anchor x", "<<: {a: 1}", '"${undefined}"',
    '"${item.x|nosuchfilter}"', '"$NOPE"', '"this:"', '".mod:Cls"', '"os:system"',
    '"os.path:join"', '"json:JSONDecoder"', '"verify"', '"mapreduce_fsm.examples.verify:X"',
    "'|'", "'>'", "|\n  block", "'" + "x" * 5000 + "'", "'\\u0000'", '"\\x01"', "- a\n- b",
]
SPECIAL_CHARACTERS = [chr(code) for code in (*range(0x20), 0x7F, 0x85, 0xA0, 0x2028, 0xFEFF,
                                             0xFFFE, 0xFFFF, 0x1F600)]


def _line_index(draw: st.DrawFn, lines: list[str]) -> int:
    return draw(st.integers(0, max(len(lines) - 1, 0)))


def _key_lines(lines: list[str]) -> list[int]:
    return [index for index, line in enumerate(lines)
            if ":" in line and not line.lstrip().startswith("#")]


@st.composite
def _insert_character(draw: st.DrawFn, text: str) -> str:
    character = draw(st.one_of(st.sampled_from(SPECIAL_CHARACTERS), st.characters()))
    position = draw(st.integers(0, len(text)))
    return text[:position] + character + text[position:]


@st.composite
def _edit_lines(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    index = _line_index(draw, lines)
    action = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "tab"]))
    if action == "delete":
        del lines[index]
    elif action == "duplicate":
        lines.insert(index, lines[index])
    elif action == "swap":
        other = _line_index(draw, lines)
        lines[index], lines[other] = lines[other], lines[index]
    elif action == "indent":
        lines[index] = " " * draw(st.integers(1, 6)) + lines[index]
    elif action == "dedent":
        lines[index] = lines[index][draw(st.integers(1, 6)):]
    else:
        lines[index] = "\t" + lines[index]
    return "\n".join(lines)


@st.composite
def _replace_value(draw: st.DrawFn, text: str) -> str:
    """A `key: value` line gets a value of a wrong type, an odd tag, or random data."""
    lines = text.split("\n")
    candidates = _key_lines(lines)
    if not candidates:
        return text
    index = draw(st.sampled_from(candidates))
    key_part = lines[index].split(":", 1)[0]
    data = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=4),
        max_leaves=12,
    )
    value = draw(st.one_of(
        st.sampled_from(ODD_VALUES),
        data.map(lambda item: yaml.safe_dump(item, default_flow_style=True, width=10**6)
                 .removesuffix("\n...\n").strip()),
    ))
    lines[index] = f"{key_part}: {value}"
    return "\n".join(lines)


@st.composite
def _add_key(draw: st.DrawFn, text: str) -> str:
    """A known key, at the top or under an existing key, with an odd value."""
    lines = text.split("\n")
    indent = draw(st.sampled_from(["", "  ", "    ", "      "]))
    line = f"{indent}{draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(ODD_VALUES))}"
    lines.insert(_line_index(draw, lines), line)
    return "\n".join(lines)


@st.composite
def _alias(draw: st.DrawFn, text: str) -> str:
    """An anchor on one value and an alias (or a merge key) to it in another place."""
    lines = text.split("\n")
    candidates = _key_lines(lines)
    if len(candidates) < 2:
        return text
    anchor, alias = draw(st.lists(st.sampled_from(candidates), min_size=2, max_size=2))
    key, value = lines[anchor].split(":", 1)
    lines[anchor] = f"{key}: &shared {value.strip()}" if value.strip() else f"{key}: &shared"
    alias_key = lines[alias].split(":", 1)[0]
    lines[alias] = draw(st.sampled_from([f"{alias_key}: *shared",
                                         f"{alias_key}: [*shared, *shared]",
                                         f"{alias_key}: {{<<: *shared}}"]))
    return "\n".join(lines)


@st.composite
def _nest(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    candidates = _key_lines(lines)
    if not candidates:
        return text
    index = draw(st.sampled_from(candidates))
    depth = draw(st.sampled_from([10, 100, 1000, 5000]))
    opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
    nested = opening * depth + "x" + closing * depth
    lines[index] = lines[index].split(":", 1)[0] + ": " + nested
    return "\n".join(lines)


MUTATIONS = [_insert_character, _edit_lines, _replace_value, _add_key, _alias, _nest]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(draw(st.sampled_from(MUTATIONS))(text))
    data = text.encode("utf-8", errors="surrogatepass")  # a lone surrogate: not UTF-8
    if draw(st.integers(0, 20)) == 0:
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
    return data


@pytest.fixture(scope="module")
def workflow_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "wf.yml"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=mutated_files())
def test_a_mutated_workflow_file_loads_or_gives_a_workflow_error(
    data: bytes, workflow_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no claude: its checks give issues, not hangs
    workflow_path.write_bytes(data)
    started = time.process_time()
    try:
        build_phases(load_workflow(workflow_path))
    except MapReduceError as error:
        assert str(error).startswith(str(workflow_path))
    assert time.process_time() - started < CPU_SECONDS_PER_FILE
