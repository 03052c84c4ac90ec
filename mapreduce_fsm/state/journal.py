"""The map's journals: every item's final result, and every finished attempt of an item."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.state.atomic import write_atomic
from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import FINAL_STATUSES, AttemptRecord, ItemResult

# How every result line begins, as `to_json` writes it: the id, the index, then the item
# (any JSON), then the status. JSON strings hold no bare quote, so these cannot match
# inside a value.
_ID_AND_INDEX = re.compile(r'\{"item_id":("(?:[^"\\]|\\.)*"),"item_index":-?\d+,"item":')
_STATUS = re.compile(r',"status":"(success|failed|timeout|skipped)",')
_DECODER = json.JSONDecoder()
_SIMPLE_LINE = re.compile(  # a whole line whose item is a scalar and nothing is escaped
    rb'^\{"item_id":"([^"\\\n]*)","item_index":-?\d+,'
    rb'"item":(?:-?\d[\d.eE+-]*|"[^"\\\n]*"|true|false|null),'
    rb'"status":"(success|failed|timeout|skipped)",[^\n]*\}$', re.MULTILINE)
_CHUNK = 1 << 20
# One string object per status, shared by 100,000 entries (not one decoded per line).
_STATUS_TEXT = {status.encode(): status for status in FINAL_STATUSES}
COUNTS_INTERVAL_SECS = 2.0  # how often an appending process saves the counts


@attrs.frozen(kw_only=True)
class LoadedResults:
    """The results journal as read: one final result per item id (the last line wins)."""

    results: Mapping[str, ItemResult]
    warnings: tuple[str, ...]
    lines: int  # whole result lines read, including ones a later line superseded


@attrs.frozen(kw_only=True)
class ResultCounts:
    """How many items have a final result, by status (the last line of an item wins)."""

    statuses: Mapping[str, int]
    items: int
    warnings: tuple[str, ...]


@attrs.frozen(kw_only=True)
class _KeptCounts:
    """`results.counts.json`: the counts of the journal's first `bytes` bytes (`lines`
    lines) while it was the file `inode`; written by the process appending results."""

    bytes: int
    lines: int
    inode: int
    statuses: dict[str, int]


def _id_and_status(line: bytes) -> tuple[str, str] | None:
    """(item id, status) from a result line as `to_json` writes it; None if it is not one."""
    try:
        text = line.decode("utf-8")
        start = _ID_AND_INDEX.match(text)
        if start is None:
            return None
        _, item_end = _DECODER.raw_decode(text, start.end())
    except ValueError:  # not UTF-8, or the item is not JSON
        return None
    status = _STATUS.match(text, item_end)
    if status is None or not text.endswith("}\n"):
        return None
    quoted = start.group(1)
    item_id = json.loads(quoted) if "\\" in quoted else quoted[1:-1]
    return item_id, status.group(1)


_RESULT_FIELDS = frozenset(field.name for field in attrs.fields(ItemResult))
_TEXT_OR_NULL = (str, type(None))


def _plain_result(line: bytes) -> ItemResult | None:
    """The result on a line that holds every field with the plain JSON type the engine
    writes, made without the strict converter (five times as fast); None for any other
    line, which the converter then reads or reports."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if type(data) is not dict or data.keys() != _RESULT_FIELDS:
        return None
    plain = (
        type(data["item_id"]) is str and type(data["item_index"]) is int
        and data["status"] in FINAL_STATUSES and type(data["status"]) is str
        and type(data["exit_code"]) in (int, type(None)) and type(data["output"]) is str
        and type(data["error"]) in _TEXT_OR_NULL and type(data["failed_step"]) in _TEXT_OR_NULL
        and type(data["attempts"]) is int and type(data["started_at"]) is str
        and type(data["finished_at"]) is str and type(data["duration_secs"]) is float
        and type(data["captures"]) is dict
    )
    return ItemResult(**data) if plain else None


def _same_result(result: ItemResult) -> ItemResult:
    return result


def _simple_statuses(path: Path) -> tuple[dict[str, str], int] | None:
    """Each item's status and the number of lines, when every line is one whose id and item
    hold no escapes and whose item is a number, plain string, boolean or null (what most
    maps over a list of values write), found by one regular expression a megabyte at a
    time; None if any line is not such a one (or the last is torn), to be read line by line."""
    statuses: dict[str, str] = {}
    lines = 0
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return statuses, 0
    with file:
        rest = b""
        while chunk := file.read(_CHUNK):
            data = rest + chunk
            end = data.rfind(b"\n") + 1
            whole, rest = data[:end], data[end:]
            found = _SIMPLE_LINE.findall(whole)
            if len(found) != whole.count(b"\n"):
                return None
            lines += len(found)
            try:
                statuses.update((item_id.decode(), _STATUS_TEXT[status])
                                for item_id, status in found)
            except UnicodeDecodeError:
                return None
    return (statuses, lines) if not rest else None


def _id_and_status_of(result: ItemResult) -> tuple[str, str]:
    return result.item_id, result.status


@attrs.define
class ResultsJournal:
    """`results.jsonl`: one item result a line, appended the moment an item ends.

    Once loaded (or rewritten) in this process, it knows `durable_count`: how many items
    have a result that has reached the disk (the count at the last fsync).
    The process that appends (it loaded the journal first) keeps the counts by status
    beside it, in `results.counts.json`, every few seconds and when it syncs: `counts()`
    then reads only the lines after them, not 100,000 results.
    """

    path: Path
    _file: JsonLinesFile[ItemResult] = attrs.field(init=False)
    _statuses: dict[str, str] | None = attrs.field(default=None, init=False)  # once loaded
    _lines: int = attrs.field(default=0, init=False)
    _counts_saved: float = attrs.field(default=0.0, init=False)
    _durable_count: int | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, ItemResult, "item result")

    @property
    def durable_count(self) -> int | None:
        """Items with a durable result; None until the journal was loaded in this process."""
        return self._durable_count

    @property
    def counts_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".counts.json")

    def append(self, result: ItemResult) -> None:
        self._file.append(result)
        if self._statuses is not None:
            self._statuses[result.item_id] = result.status
            self._lines += 1
            if self._file.synced:
                self._durable_count = len(self._statuses)
            if time.monotonic() - self._counts_saved >= COUNTS_INTERVAL_SECS:
                self._save_counts()

    def sync(self) -> None:
        self._file.sync()
        if self._statuses is not None:
            self._durable_count = len(self._statuses)
        self._save_counts()

    def close(self) -> None:
        self._file.close()
        self._save_counts()

    def load(self) -> LoadedResults:
        scanned = self._file.scan_fields(_plain_result, _same_result)
        results = {result.item_id: result for result in scanned.records}
        self._statuses = {item_id: result.status for item_id, result in results.items()}
        self._lines = len(scanned.records)
        self._durable_count = len(results)
        return LoadedResults(
            results=results, warnings=scanned.warnings, lines=len(scanned.records)
        )

    def iter_final(self) -> Iterator[ItemResult]:
        """Each item's final result (its last line), one at a time, in the order of those
        lines. Two passes over the file: the first keeps only ids and line numbers."""
        last_line: dict[str, int] = {}
        for number, line, _ in self._file.lines():
            item_id = _item_id(line)
            if item_id is not None:
                last_line[item_id] = number
        for number, line, _ in self._file.lines():
            item_id = _item_id(line)
            if item_id is not None and last_line.get(item_id) == number:
                yield self._file.parse(line)

    def statuses(self) -> Mapping[str, str]:
        """Each item's final status, by id: what a resumed map needs of 100,000 results,
        read from those two fields of each line alone (a torn last line is dropped).

        Read once a process: after that (or after `load`), the mapping returned is the
        journal's own, kept current by `append` and `rewrite` (this process holds the
        job's lock, so nothing else writes the file)."""
        if self._statuses is not None:
            return self._statuses
        read = _simple_statuses(self.path)
        if read is None:
            scanned = self._file.scan_fields(_id_and_status, _id_and_status_of)
            read = dict(scanned.records), len(scanned.records)
        self._statuses, self._lines = read
        self._durable_count = len(self._statuses)
        return self._statuses

    def counts(self) -> ResultCounts:
        """The items with a result, by status: the kept counts plus the lines after them
        (an item there is taken to be new: only a crash repeats one), or, without kept
        counts, every line read for its id and status alone."""
        kept = _read_kept_counts(self.counts_path)
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return ResultCounts(statuses={}, items=0, warnings=())
        if kept is None or kept.inode != stat.st_ino or kept.bytes > stat.st_size:
            kept = _KeptCounts(bytes=0, lines=0, inode=stat.st_ino, statuses={})
        scanned = self._file.scan_fields(_id_and_status, _id_and_status_of,
                                         start=kept.bytes, lines_before=kept.lines)
        statuses = Counter(kept.statuses)
        statuses.update(dict(scanned.records).values())
        return ResultCounts(statuses=dict(+statuses), items=statuses.total(),
                            warnings=scanned.warnings)

    def _save_counts(self) -> None:
        if self._statuses is None:
            return
        self._counts_saved = time.monotonic()
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        kept = _KeptCounts(bytes=stat.st_size, lines=self._lines, inode=stat.st_ino,
                           statuses=dict(Counter(self._statuses.values())))
        # A cache (`counts()` reads the journal without it): not worth two fsyncs a save.
        write_atomic(self.counts_path, json.dumps(attrs.asdict(kept)) + "\n", durable=False)

    def rewrite(self, results: Iterable[ItemResult]) -> None:
        """Replace the journal atomically with exactly these results (compaction)."""
        kept = list(results)
        self._file.rewrite(kept)
        self._statuses = {result.item_id: result.status for result in kept}
        self._lines = len(kept)
        self._durable_count = len(self._statuses)
        self._save_counts()


def _item_id(line: bytes) -> str | None:
    """The item id of a whole result line; None for a torn or odd one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    item_id = value.get("item_id") if isinstance(value, dict) else None
    return item_id if isinstance(item_id, str) and line.endswith(b"\n") else None


def _read_kept_counts(path: Path) -> _KeptCounts | None:
    """The kept counts, or None if there are none or they cannot be read (a reader then
    counts from the journal)."""
    try:
        data = json.loads(path.read_bytes())
        kept = _KeptCounts(bytes=data["bytes"], lines=data["lines"], inode=data["inode"],
                           statuses=data["statuses"])
        valid = all(isinstance(n, int) for n in (kept.bytes, kept.lines, kept.inode)) and all(
            isinstance(k, str) and isinstance(n, int) for k, n in kept.statuses.items())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return kept if valid else None


@attrs.define
class AttemptJournal:
    """`attempts.jsonl`: every finished attempt of every item, in the order they ended."""

    path: Path
    _file: JsonLinesFile[AttemptRecord] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, AttemptRecord, "item attempt")

    def append(self, record: AttemptRecord) -> None:
        self._file.append(record)

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()

    def load(self) -> dict[str, list[AttemptRecord]]:
        """Attempts per item id, oldest first; a torn last line is dropped."""
        attempts: dict[str, list[AttemptRecord]] = {}
        for record in self._file.scan().records:
            attempts.setdefault(record.item_id, []).append(record)
        return attempts
