"""An append-only JSON-lines file of one record type that survives being killed mid-write."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

import attrs
import cattrs

from mapreduce_fsm.convert import describe_structure_error, from_json, to_json
from mapreduce_fsm.errors import JobStateError, failing_as_environment
from mapreduce_fsm.state.atomic import fsync_dir, write_atomic

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

FSYNC_INTERVAL_SECS = 0.5
_TAIL_CHUNK = 64 * 1024


@attrs.frozen(kw_only=True)
class ScannedLines(Generic[T]):
    """What a scan of the file found: the records in file order, and what was dropped."""

    records: tuple[T, ...]
    warnings: tuple[str, ...]


@attrs.define
class JsonLinesFile(Generic[T]):
    """One record a line; appends are one `write()` each and reach the OS at once.

    The file is opened in append mode on the first append and stays open until
    `close()`. fsync is batched: at most once every FSYNC_INTERVAL_SECS, and on
    `sync()` / `close()`. A process killed mid-append leaves a torn last line; a
    scan drops it with a warning, and the next append cuts it off before writing,
    so a torn line never ends up in the middle of the file.
    """

    path: Path
    record_type: type[T]
    what: str  # how a line is called in messages, e.g. "item result"
    # A log that nothing is resumed from (the events) skips a corrupt line with a warning
    # instead of refusing the file.
    skip_corrupt: bool = False
    _handle: io.FileIO | None = attrs.field(default=None, init=False)
    _unsynced: bool = attrs.field(default=False, init=False)
    _last_fsync: float = attrs.field(default=0.0, init=False)

    def append(self, record: T) -> None:
        self.append_line(to_json(record))

    def append_line(self, line: str) -> None:
        """Append one record already rendered as JSON (by `to_json` or `json_line`)."""
        data = (line + "\n").encode("utf-8")
        handle = self.open_for_append()
        view = memoryview(data)
        with failing_as_environment("write", self.path):
            while view:  # a regular file takes it all at once; loop in case it does not
                view = view[handle.write(view) or 0:]
        self._unsynced = True
        if time.monotonic() - self._last_fsync >= FSYNC_INTERVAL_SECS:
            self.sync()

    @property
    def synced(self) -> bool:
        """Whether every line appended so far is durable."""
        return not self._unsynced

    def sync(self) -> None:
        """Make every appended line durable now."""
        if self._handle is not None and self._unsynced:
            with failing_as_environment("write", self.path):
                os.fsync(self._handle.fileno())
            self._unsynced = False
        self._last_fsync = time.monotonic()

    def close(self) -> None:
        """Sync and close; the file is closed even when the sync fails."""
        if self._handle is not None:
            handle = self._handle
            try:
                self.sync()
            finally:
                self._handle = None
                handle.close()

    def rewrite(self, records: Iterable[T]) -> None:
        """Replace the whole file atomically (compaction, removal)."""
        self.close()
        write_atomic(self.path, "".join(to_json(record) + "\n" for record in records))

    def scan(self) -> ScannedLines[T]:
        """Read every record; a torn last line is dropped, a bad line elsewhere raises.

        A missing file reads as empty. Blank lines are ignored.
        """
        return self.scan_fields(_unread, _whole)

    def scan_fields(self, fields: Callable[[bytes], R | None], of_record: Callable[[T], R],
                    *, start: int = 0, lines_before: int = 0) -> ScannedLines[R]:
        """Like `scan`, but each line gives only `fields(line)` (a cheap read of a few
        fields, None when it cannot tell); a line it cannot read is parsed whole.
        From byte `start` on, `lines_before` lines before it (for line numbers)."""
        values: list[R] = []
        warnings: list[str] = []
        for number, line, is_last in self.lines(start, lines_before):
            value = fields(line) if line.endswith(b"\n") else None
            if value is not None:
                values.append(value)
                continue
            try:
                values.append(of_record(self.parse(line)))
            except ValueError as exc:
                if self.skip_corrupt and not (is_last and _looks_torn(line)):
                    warnings.append(f"{self.path}:{number}: skipped a corrupt {self.what} "
                                    f"line ({exc})")
                    continue
                if not (is_last and _looks_torn(line)):
                    raise self._corrupt(number, exc) from exc
                warnings.append(
                    f"{self.path}:{number}: dropped a torn last line (the process writing it "
                    f"was killed mid-write: {exc}); that {self.what} will be produced again"
                )
        return ScannedLines(records=tuple(values), warnings=tuple(warnings))

    def _corrupt(self, number: int | None, reason: Exception) -> JobStateError:
        where = f"{self.path}:{number}" if number is not None else f"{self.path}, last line"
        return JobStateError(
            f"{where}: corrupt {self.what} line ({reason}); only a last line cut "
            "short (or zeroed by a power loss) can come from a crash, so this file was "
            "changed by something else. Fix or delete that line, then resume."
        )

    def parse(self, line: bytes) -> T:
        """One line as a record; ValueError (with a reason) if it is not a whole one."""
        if not line.endswith(b"\n"):
            raise ValueError("no newline at its end")
        try:
            return from_json(line, self.record_type)
        except (cattrs.BaseValidationError, TypeError) as exc:
            raise ValueError(describe_structure_error(exc)) from exc
        except ValueError as exc:  # JSON or UTF-8 decoding
            raise ValueError(f"not JSON: {exc}") from exc

    def last_record(self) -> T | None:
        """The last whole record, read from the end of the file (cheap however long it is)."""
        try:
            with self.path.open("rb") as file:
                line = _last_line(file.fileno())
        except FileNotFoundError:
            return None
        if line is None:
            return None
        try:
            return self.parse(line[1])
        except ValueError:
            return None

    def lines(self, start: int = 0, lines_before: int = 0) -> Iterator[tuple[int, bytes, bool]]:
        """(1-based number, raw line, is it the last) for every non-blank line from `start`."""
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return
        with file:
            file.seek(start)
            previous: tuple[int, bytes] | None = None
            for number, line in enumerate(file, start=lines_before + 1):
                if not line.strip():
                    continue
                if previous is not None:
                    yield previous[0], previous[1], False
                previous = (number, line)
            if previous is not None:
                yield previous[0], previous[1], True

    def open_for_append(self) -> io.FileIO:
        """Open the file (once) for appending, cutting off a torn last line first."""
        if self._handle is None:
            existed = self.path.exists()
            with failing_as_environment("write", self.path):
                handle = io.FileIO(self.path, "ab")
            try:
                self._cut_torn_tail(handle.fileno())
            except BaseException:
                handle.close()
                raise
            if not existed:
                fsync_dir(self.path.parent)
            self._handle = handle
            self._last_fsync = time.monotonic()
        return self._handle

    def _cut_torn_tail(self, fd: int) -> None:
        """Truncate a last line that is not a whole record, so appends start clean."""
        with self.path.open("rb") as reader:
            last = _last_line(reader.fileno())
        if last is None:
            return
        start, line = last
        try:
            self.parse(line)
        except ValueError as exc:
            if not _looks_torn(line):
                if self.skip_corrupt:
                    log.warning("warning: %s, last line: a corrupt %s line (%s); "
                                "appending after it", self.path, self.what, exc)
                    return
                raise self._corrupt(None, exc) from exc
            log.warning("%s: cutting off a torn last line at byte %d (%s)", self.path, start, exc)
            os.ftruncate(fd, start)
            os.fsync(fd)


def _unread(line: bytes) -> None:
    return None


def _whole(record: T) -> T:
    return record


def _looks_torn(line: bytes) -> bool:
    """What a crash can leave: a line without its newline (the process was killed
    mid-write), or NUL bytes (a power loss after the file grew but before its data landed)."""
    return not line.endswith(b"\n") or not line.strip(b"\x00\r\n")


def _last_line(fd: int) -> tuple[int, bytes] | None:
    """(offset, bytes up to its newline) of the file's last non-blank line, read backwards."""
    tail = b""
    position = os.fstat(fd).st_size
    while True:
        content = tail.rstrip(b"\n\r\t ")
        start = content.rfind(b"\n") + 1
        if (start > 0 or position == 0) and content:
            newline = tail.find(b"\n", len(content))
            end = len(tail) if newline < 0 else newline + 1
            return position + start, tail[start:end]
        if position == 0:
            return None
        step = min(_TAIL_CHUNK, position)
        position -= step
        tail = os.pread(fd, step, position) + tail
