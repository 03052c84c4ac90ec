"""`map.input`: read work items from a data file or from the output of a shell command.

A spec naming an existing file is read by its suffix: `.json` (JSON), `.jsonl` / `.ndjson`
(one JSON value a line), `.csv` (rows as objects keyed by the header; see `type_csv_columns`
for which values are numbers),
`.yml` / `.yaml` (YAML; an empty file is an empty list), anything else JSON when it parses,
else one string item per non-blank line. A spec that looks like a data file path but does
not exist is an error. Anything else runs with `sh -c`; its output is a JSON document, else
JSON lines, else plain lines, through the one subprocess runner (`commands.process`): its
own process group, killed (SIGTERM, then SIGKILL) when it outlives its time limit.
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from mapreduce_fsm.commands.process import run_process
from mapreduce_fsm.config.durations import parse_duration
from mapreduce_fsm.config.messages import show_value
from mapreduce_fsm.config.yamlsource import DepthLimitedLoader, NestedTooDeeply, find_alias_excess
from mapreduce_fsm.errors import InputError

DATA_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".csv", ".yml", ".yaml", ".txt"})
SHELL_METACHARACTERS = re.compile(r"[\s|&;<>()$`\\\"'*?\[\]{}!~#=]")
STDERR_TAIL_LINES = 5
# How long a map.input command may run: 300 s unless this variable (in the environment or
# the workflow's env:) says otherwise. A hanging command would otherwise hang the job.
INPUT_TIMEOUT_VARIABLE = "MAPREDUCE_FSM_INPUT_TIMEOUT"
DEFAULT_INPUT_TIMEOUT_SECS = 300.0
# How much a map.input command may print: the items are all held in memory anyway, and
# output cut short would be wrong items, so more is an error (a step's cap is 1 MiB).
INPUT_MAX_OUTPUT_BYTES = 256 * 1024 * 1024
INPUT_KILL_GRACE_SECS = 2.0  # SIGTERM -> SIGKILL, as for a step
CSV_EXTRA_FIELDS = "\0extra"  # DictReader's key for fields beyond the header
# Values that aliases may repeat in a YAML item file: items sharing defaults through merge
# keys repeat a few per item; nested aliases in half a kilobyte repeat billions.
MAX_ITEM_ALIAS_REPEATS = 1_000_000
# A CSV value that is a number: JSON's spelling, so 007, +5, 1,000, NaN and " 3" are not.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
CSV_TYPE_SUFFIXES = (":text", ":number")


@attrs.frozen(kw_only=True)
class LoadedInput:
    """The parsed document behind `map.input`, and where it came from for messages."""

    document: Any
    origin: str  # "file items.json" / "command `ls *.md`"
    warnings: tuple[str, ...] = ()


async def load_input(
    spec: str, *, cwd: Path, env: Mapping[str, str], timeout: float | None = None
) -> LoadedInput:
    """Load `spec` (map.input, already interpolated) as a file under `cwd`, else as a command.

    `env` is added to the process environment of a command; `timeout` (seconds) bounds it,
    by default `input_timeout` of the environment and `env`. Raises InputError naming the
    file, line or command when the items cannot be loaded.
    """
    name = spec.strip()  # a YAML block scalar leaves a trailing newline
    path = _existing_file(name, cwd)
    if path is not None:
        document = await asyncio.to_thread(_read_file, path, name)
        return LoadedInput(document=document, origin=f"file {name}")
    if _looks_like_a_file_path(name):
        raise InputError(f"map.input: file {name!r} not found in {cwd.resolve()}")
    if timeout is None:
        timeout = input_timeout({**os.environ, **env})
    output, non_utf8_at = await _run_command(spec, cwd=cwd, env=env, timeout=timeout)
    warnings = () if non_utf8_at is None else (
        f"map.input: the output of command `{spec}` is not UTF-8 at byte {non_utf8_at} "
        "(and maybe later); each such byte became U+FFFD (\N{REPLACEMENT CHARACTER}) in the "
        "items",
    )
    return LoadedInput(document=_parse_command_output(output), origin=f"command `{spec}`",
                       warnings=warnings)


def missing_input_file(spec: str, cwd: Path) -> str | None:
    """The message for a spec that names a data file that is not there, else None."""
    name = spec.strip()
    if _looks_like_a_file_path(name) and _existing_file(name, cwd) is None:
        return f"map.input: file {name!r} not found in {cwd.resolve()}"
    return None


def input_is_a_command(spec: str, cwd: Path) -> bool:
    """Whether `load_input` would run `spec` as a shell command rather than read a file."""
    name = spec.strip()
    return _existing_file(name, cwd) is None and not _looks_like_a_file_path(name)


def input_timeout(environ: Mapping[str, str]) -> float:
    """Seconds a map.input command may run: `$MAPREDUCE_FSM_INPUT_TIMEOUT` ("90", "2m"), or 300."""
    text = environ.get(INPUT_TIMEOUT_VARIABLE)
    if text is None or not text.strip():
        return DEFAULT_INPUT_TIMEOUT_SECS
    try:
        return parse_duration(text)
    except ValueError as error:
        raise InputError(f"{INPUT_TIMEOUT_VARIABLE} is {json.dumps(text)}: {error}; it is the "
                         "time limit of a map.input command") from None


def _existing_file(spec: str, cwd: Path) -> Path | None:
    path = Path(spec) if os.path.isabs(spec) else cwd / spec
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except (OSError, ValueError):  # a command too long or too odd to be a file name
        return None
    if is_dir and _looks_like_a_path(spec):
        raise InputError(f"map.input: {spec!r} is a directory in {cwd.resolve()}, not a data file")
    return path if is_file else None


def _looks_like_a_path(spec: str) -> bool:
    return bool(spec) and SHELL_METACHARACTERS.search(spec) is None


def _looks_like_a_file_path(spec: str) -> bool:
    return _looks_like_a_path(spec) and Path(spec).suffix.lower() in DATA_SUFFIXES


def _read_file(path: Path, name: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise InputError(f"{name}: cannot be read: {error.strerror}") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _parse_json(text, name)
    if suffix in (".jsonl", ".ndjson"):
        return _parse_json_lines(text, name)
    if suffix == ".csv":
        return _parse_csv(text, name)
    if suffix in (".yml", ".yaml"):
        return _parse_yaml(text, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return _plain_lines(text)


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{name}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})"
        ) from None


def _parse_json_lines(text: str, name: str) -> list[Any]:
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InputError(
                f"{name}:{number}: not valid JSON: {error.msg} (column {error.colno})"
            ) from None
    return values


def _parse_csv(text: str, name: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=CSV_EXTRA_FIELDS)
    rows: list[dict[str, str | None]] = []
    try:
        for row in reader:
            extra = row.pop(CSV_EXTRA_FIELDS, None)
            if extra is not None:
                header = len(reader.fieldnames or ())
                raise InputError(
                    f"{name}:{reader.line_num}: the row has {header + len(extra)} fields"
                    f" but the header has {header}"
                )
            rows.append(row)
    except csv.Error as error:
        raise InputError(f"{name}:{reader.line_num}: not valid CSV: {error}") from None
    return type_csv_columns(rows, list(reader.fieldnames or ()), name)


def type_csv_columns(
    rows: list[dict[str, str | None]], header: list[str], name: str
) -> list[dict[str, Any]]:
    """CSV values as JSON values, column by column (docs/workflow-format.md section 4).

    A column whose every non-empty value is a number as JSON writes it (`10`, `-2.5`,
    `1e3`; not `007`, `+5`, `1,000`) holds numbers, its empty values null; any other
    column holds text. A header `NAME:text` keeps column NAME text whatever it holds;
    `NAME:number` requires numbers (an error names the first value that is not).
    """
    typed: list[dict[str, Any]] = [dict(row) for row in rows]
    for column in header:
        key, declared = _declared_type(column)
        values = [row.get(column) or "" for row in rows]
        if declared == "number":
            for number, value in enumerate(values, start=2):
                if value and JSON_NUMBER.fullmatch(value) is None:
                    raise InputError(f"{name}:{number}: column {key!r} is declared :number but "
                                     f"{value!r} is not a number (as JSON writes numbers)")
        numeric = declared == "number" or (
            declared is None and any(values)
            and all(not value or JSON_NUMBER.fullmatch(value) for value in values))
        for row, value in zip(typed, values, strict=True):
            raw = row.pop(column, None)
            row[key] = (json.loads(value) if value else None) if numeric else raw
    return typed


def _declared_type(column: str) -> tuple[str, str | None]:
    """The key and the declared type of a CSV header: "zip:text" -> ("zip", "text")."""
    for suffix in CSV_TYPE_SUFFIXES:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)], suffix[1:]
    return column, None


def _parse_yaml(text: str, name: str) -> Any:
    try:
        loader = _ItemLoader(text)
    except yaml.reader.ReaderError as error:  # a control character
        line = text.count("\n", 0, error.position) + 1
        raise InputError(f"{name}:{line}: not valid YAML: unacceptable character "
                         f"#x{error.character:04x}: {error.reason}") from None
    try:
        node = loader.get_single_node()
        excess = None if node is None else find_alias_excess(node, MAX_ITEM_ALIAS_REPEATS)
        if excess is not None:
            raise InputError(f"{name}:{excess.line + 1}: the aliases in this file repeat more "
                             f"than {MAX_ITEM_ALIAS_REPEATS:,} values (is it a YAML alias bomb?)")
        document = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    except NestedTooDeeply as error:
        raise InputError(f"{name}:{error.mark.line + 1}: the YAML is nested more than "
                         f"{_ItemLoader.max_depth} levels deep") from None
    finally:
        loader.dispose()
    return [] if document is None else _as_json_value(document)


class _ItemLoader(DepthLimitedLoader):
    """SafeLoader whose scalars that their tag cannot read ("!!bool maybe") are YAML errors."""

    max_depth = 200  # items.py allows items 100 levels deep, inside any wrapping

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception:  # KeyError, AttributeError, IndexError, ValueError from PyYAML
            tag = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{show_value(node.value)} is not a valid {tag}",
                node.start_mark) from None


def _as_json_value(value: Any) -> Any:
    """YAML's extra types as JSON: dates and times as ISO text, other keys as their text."""
    if isinstance(value, dict):
        return {_as_json_key(key): _as_json_value(element) for key, element in value.items()}
    if isinstance(value, list):
        return [_as_json_value(element) for element in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _as_json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)  # as JSON spells it: null, true, 3
    converted = _as_json_value(key)
    return converted if isinstance(converted, str) else json.dumps(converted, default=str)


def _plain_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _parse_command_output(output: str) -> Any:
    try:
        return json.loads(output)
    except json.JSONDecodeError:
        pass
    lines = _plain_lines(output)
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        return lines


async def _run_command(command: str, *, cwd: Path, env: Mapping[str, str],
                       timeout: float) -> tuple[str, int | None]:
    """The command's output, and where its first byte that is not UTF-8 is (None: none)."""
    environ = dict(os.environb)
    environ.update((os.fsencode(name), os.fsencode(value)) for name, value in env.items())
    outcome = await run_process(
        ("sh", "-c", command), cwd=cwd, env=environ, timeout=timeout,
        max_output_bytes=INPUT_MAX_OUTPUT_BYTES, kill_grace_secs=INPUT_KILL_GRACE_SECS)
    if outcome.start_error is not None:
        raise InputError(f"map.input: command `{command}` could not start in {cwd}: "
                         f"{outcome.start_error}")
    if outcome.timed_out:
        raise InputError(
            f"map.input: command `{command}` timed out after {timeout:g} seconds (the limit for "
            f"a map.input command; set {INPUT_TIMEOUT_VARIABLE} to change it)")
    if outcome.exit_code != 0:
        raise InputError(_failure_message(command, outcome.exit_code, outcome.stderr))
    if outcome.stdout_dropped:
        raise InputError(
            f"map.input: command `{command}` printed more than {INPUT_MAX_OUTPUT_BYTES} bytes, "
            "the limit for a map.input command; write its output to a file and name the file "
            "in map.input")
    return outcome.raw_stdout, outcome.stdout_non_utf8_at


def _failure_message(command: str, returncode: int | None, stderr: str) -> str:
    if returncode is not None and returncode < 0:
        status = f"was killed by signal {-returncode}"
    else:
        status = f"exited with code {returncode}"
    tail = stderr.strip().splitlines()[-STDERR_TAIL_LINES:]
    detail = ":\n" + "\n".join(f"  {line}" for line in tail) if tail else " (no stderr output)"
    return f"map.input: command `{command}` {status}{detail}"
