"""map.input: every file kind, commands and their output shapes, and the error messages."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.commands.groups import group_members
from mapreduce_fsm.errors import InputError
from mapreduce_fsm.workitems import sources
from mapreduce_fsm.workitems.sources import (
    DEFAULT_INPUT_TIMEOUT_SECS,
    INPUT_TIMEOUT_VARIABLE,
    LoadedInput,
    input_timeout,
    load_input,
)


def load(spec: str, cwd: Path, env: dict[str, str] | None = None, **kwargs: Any) -> LoadedInput:
    return asyncio.run(load_input(spec, cwd=cwd, env=env or {}, **kwargs))


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_file(tmp_path: Path) -> None:
    write(tmp_path, "items.json", '{"items": [{"a": 1}, {"a": 2}]}')
    loaded = load("items.json", tmp_path)
    assert loaded.document == {"items": [{"a": 1}, {"a": 2}]}
    assert loaded.origin == "file items.json"


def test_surrounding_whitespace_of_a_file_spec_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, "items.json", "[1]")
    assert load("items.json\n", tmp_path).origin == "file items.json"
    with pytest.raises(InputError, match=r"file 'other.json' not found"):
        load(" other.json\n", tmp_path)


def test_absolute_path_is_read_wherever_cwd_is(tmp_path: Path) -> None:
    path = write(tmp_path, "items.json", "[1, 2]")
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert load(str(path), other).document == [1, 2]


@pytest.mark.parametrize("name", ["items.jsonl", "items.ndjson", "ITEMS.JSONL"])
def test_json_lines_files_skip_blank_lines(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, '{"a": 1}\n\n  \n"two"\n[3]\n')
    assert load(name, tmp_path).document == [{"a": 1}, "two", [3]]


def test_csv_rows_become_objects_keyed_by_header_numeric_columns_as_numbers(
    tmp_path: Path,
) -> None:
    write(tmp_path, "items.csv", 'path,size,ratio\na.md,10,0.5\n"b, c.md",20,1e3\nd.md,,-2\n')
    assert load("items.csv", tmp_path).document == [
        {"path": "a.md", "size": 10, "ratio": 0.5},
        {"path": "b, c.md", "size": 20, "ratio": 1000.0},
        {"path": "d.md", "size": None, "ratio": -2},  # empty in a numeric column: null
    ]


@pytest.mark.parametrize("odd_value", ["007", "1,000", "+5", "NaN", "0x10", " 3", "ten"])
def test_a_csv_column_with_one_value_that_is_not_a_json_number_stays_text(
    tmp_path: Path, odd_value: str
) -> None:
    write(tmp_path, "items.csv", f'code,n\n1,1\n"{odd_value}",2\n3,\n')
    assert load("items.csv", tmp_path).document == [
        {"code": "1", "n": 1}, {"code": odd_value, "n": 2}, {"code": "3", "n": None},
    ]


def test_a_csv_header_suffix_keeps_a_column_text_or_requires_numbers(tmp_path: Path) -> None:
    write(tmp_path, "items.csv", "zip:text,size:number,name\n12345,10,x\n02134,,y\n")
    assert load("items.csv", tmp_path).document == [
        {"zip": "12345", "size": 10, "name": "x"},
        {"zip": "02134", "size": None, "name": "y"},
    ]
    write(tmp_path, "bad.csv", "size:number\n10\nlarge\n")
    with pytest.raises(InputError, match=r"^bad.csv:3: column 'size' is declared :number "
                                         r"but 'large' is not a number"):
        load("bad.csv", tmp_path)


def test_a_csv_column_of_empty_values_stays_text(tmp_path: Path) -> None:
    write(tmp_path, "items.csv", "a,b\nx,\ny,\n")
    assert load("items.csv", tmp_path).document == [{"a": "x", "b": ""}, {"a": "y", "b": ""}]


def test_csv_with_a_byte_order_mark_keeps_a_clean_first_header(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_bytes("\ufeffid,name\n1,x\n".encode())
    assert load("items.csv", tmp_path).document == [{"id": 1, "name": "x"}]


def test_csv_row_with_too_many_fields_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "items.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(
        InputError, match=r"^items.csv:3: the row has 3 fields but the header has 2"
    ):
        load("items.csv", tmp_path)


@pytest.mark.parametrize("name", ["items.yaml", "items.yml"])
def test_yaml_file(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "- name: a\n  when: 2024-01-02\n- name: b\n  tags: [x, y]\n")
    assert load(name, tmp_path).document == [
        {"name": "a", "when": "2024-01-02"},
        {"name": "b", "tags": ["x", "y"]},
    ]


def test_empty_yaml_file_is_an_empty_list(tmp_path: Path) -> None:
    write(tmp_path, "items.yaml", "# nothing yet\n")
    assert load("items.yaml", tmp_path).document == []


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "items.yaml", "- a\n- b: [1, 2\n")
    with pytest.raises(InputError, match=r"^items.yaml:\d+: not valid YAML"):
        load("items.yaml", tmp_path)


def test_other_suffix_is_json_when_it_parses(tmp_path: Path) -> None:
    write(tmp_path, "items.data", '[{"a": 1}]')
    assert load("items.data", tmp_path).document == [{"a": 1}]


def test_other_suffix_is_plain_lines_otherwise(tmp_path: Path) -> None:
    write(tmp_path, "files.txt", "docs/a.md\n\ndocs/b c.md\n")
    assert load("files.txt", tmp_path).document == ["docs/a.md", "docs/b c.md"]


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "items.json", '[\n  {"a": 1},\n  {"a": 2 "b": 3}\n]')
    with pytest.raises(InputError) as caught:
        load("items.json", tmp_path)
    assert str(caught.value) == (
        "items.json:3: not valid JSON: Expecting ',' delimiter (column 11)"
    )


def test_bad_jsonl_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "items.jsonl", '{"a": 1}\n{"a": 2}\n\n{"a" 3}\n')
    with pytest.raises(InputError) as caught:
        load("items.jsonl", tmp_path)
    assert str(caught.value) == "items.jsonl:4: not valid JSON: Expecting ':' delimiter (column 6)"


def test_non_utf8_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_bytes(b'["\xff"]')
    with pytest.raises(InputError, match=r"^items.json: not UTF-8 text"):
        load("items.json", tmp_path)


@pytest.mark.parametrize("spec", ["items.json", "data/items.jsonl", "rows.csv", "x.yaml"])
def test_missing_data_file_is_an_error_not_a_command(tmp_path: Path, spec: str) -> None:
    with pytest.raises(InputError) as caught:
        load(spec, tmp_path)
    assert str(caught.value) == f"map.input: file {spec!r} not found in {tmp_path.resolve()}"


def test_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "items").mkdir()
    with pytest.raises(InputError, match=r"^map.input: 'items' is a directory"):
        load("items", tmp_path)


def test_command_printing_a_json_array(tmp_path: Path) -> None:
    loaded = load("""printf '[{"n": 1}, {"n": 2}]'""", tmp_path)
    assert loaded.document == [{"n": 1}, {"n": 2}]
    assert loaded.origin == """command `printf '[{"n": 1}, {"n": 2}]'`"""


def test_command_printing_json_lines(tmp_path: Path) -> None:
    command = """printf '{"n": 1}\\n\\n{"n": 2}\\n'"""
    assert load(command, tmp_path).document == [{"n": 1}, {"n": 2}]


def test_command_printing_plain_lines(tmp_path: Path) -> None:
    for name in ["b.md", "a.md", "42"]:
        write(tmp_path, name, "")
    assert load("ls | sort", tmp_path).document == ["42", "a.md", "b.md"]


def test_command_runs_in_cwd_with_the_given_env(tmp_path: Path) -> None:
    loaded = load('echo "$GREETING"; pwd', tmp_path, env={"GREETING": "hi there"})
    assert loaded.document == ["hi there", str(tmp_path)]


def test_command_with_no_output_gives_no_items(tmp_path: Path) -> None:
    assert load("true", tmp_path).document == []


def test_failing_command_names_command_code_and_stderr_tail(tmp_path: Path) -> None:
    command = "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 3"
    with pytest.raises(InputError) as caught:
        load(command, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"map.input: command `{command}` exited with code 3:")
    assert "line7" in message and "line3" in message
    assert "line2" not in message  # only the last lines of stderr


def test_unknown_command_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exited with code 127"):
        load("no-such-program-xyz --list", tmp_path)


def test_command_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    started = time.monotonic()
    with pytest.raises(InputError, match=r"timed out after 0.3 seconds"):
        load(f"(sleep 1; touch {marker}) & sleep 5", tmp_path, timeout=0.3)
    assert time.monotonic() - started < 3
    time.sleep(1.2)
    assert not marker.exists()


def test_a_file_is_preferred_to_a_command_of_the_same_name(tmp_path: Path) -> None:
    write(tmp_path, "true", json.dumps(["from the file"]))
    assert load("true", tmp_path).document == ["from the file"]


def test_a_hanging_input_command_stops_at_the_default_limit_and_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INPUT_TIMEOUT_VARIABLE, "0.5")
    pid_file = tmp_path / "pid"
    command = f"echo $$ > {pid_file}; sleep 60 & sleep 60"
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        load(command, tmp_path)  # no timeout given: the limit comes from the environment
    assert time.monotonic() - started < 30  # far below the 60 s the command would take
    assert str(caught.value) == (
        f"map.input: command `{command}` timed out after 0.5 seconds (the limit for a "
        f"map.input command; set {INPUT_TIMEOUT_VARIABLE} to change it)")
    process_group = int(pid_file.read_text())
    assert group_members(process_group) == []


def test_the_input_limit_can_be_set_in_the_workflow_env(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"timed out after 0.2 seconds"):
        load("sleep 60", tmp_path, env={INPUT_TIMEOUT_VARIABLE: "200ms"})


def test_the_input_limit_is_300_seconds_unless_set() -> None:
    assert input_timeout({}) == DEFAULT_INPUT_TIMEOUT_SECS == 300
    assert input_timeout({INPUT_TIMEOUT_VARIABLE: "2m"}) == 120


@pytest.mark.parametrize("text", ["soon", "0", "-5"])
def test_a_bad_input_limit_is_an_input_error_naming_the_variable(
    tmp_path: Path, text: str,
) -> None:
    with pytest.raises(InputError, match=rf"^{INPUT_TIMEOUT_VARIABLE} is \"{text}\": expected"):
        load("echo 1", tmp_path, env={INPUT_TIMEOUT_VARIABLE: text})


def test_command_output_beyond_the_input_limit_is_an_error_not_cut_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sources, "INPUT_MAX_OUTPUT_BYTES", 1000)
    with pytest.raises(InputError, match=r"printed more than 1000 bytes"):
        load("seq 1 1000", tmp_path)
    assert load("seq 1 10", tmp_path).document == list(range(1, 11))
