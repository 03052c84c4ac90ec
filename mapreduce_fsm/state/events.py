"""The job's event log: numbered events appended to `events.jsonl`, with live subscribers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import attrs

from mapreduce_fsm.convert import converter, json_line, utc_now
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state.jsonlines import JsonLinesFile
from mapreduce_fsm.state.records import Event

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]


@attrs.define
class EventLog:
    """Writes events (seq continues across reopens), tells subscribers, reads and follows."""

    path: Path
    job_id: str
    _file: JsonLinesFile[Event] = attrs.field(init=False)
    _next_seq: int | None = attrs.field(default=None, init=False)
    _subscribers: list[EventCallback] = attrs.field(factory=list, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def __attrs_post_init__(self) -> None:
        self._file = JsonLinesFile(self.path, Event, "event")

    def emit(self, type: str, *, phase: str | None = None, **data: Any) -> Event:
        """Append one event (written and flushed before this returns), then tell subscribers.

        `data` is stored as JSON holds it: a value JSON has no type for becomes its `str()`.
        """
        with self._lock:
            if self._next_seq is None:
                self._file.open_for_append()  # a torn last event is cut off first
                last = self._file.last_record()
                self._next_seq = 1 if last is None else last.seq + 1
            event = Event(
                seq=self._next_seq, at=utc_now(), type=type, job_id=self.job_id,
                phase=phase, data=_as_json(data),
            )
            # Written without cattrs (the fields are plain already): two events an item.
            self._file.append_line(json_line({
                "seq": event.seq, "at": event.at, "type": event.type, "job_id": event.job_id,
                "phase": event.phase, "data": event.data,
            }))
            self._next_seq += 1
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s; ignored", callback, event.type)
        return event

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` with every event emitted from now on; returns the unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def read(self, *, types: Collection[str] | None = None) -> Iterator[Event]:
        """Every event on file, oldest first, optionally only these types."""
        for event in self._file.scan().records:
            if types is None or event.type in types:
                yield event

    def in_flight(self) -> dict[str, str]:
        """Items started and not finished, by id, with when they started."""
        started: dict[str, str] = {}
        for event in self.read(types={"item.started", "item.finished"}):
            item_id = str(event.data.get("item_id"))
            if event.type == "item.started":
                started[item_id] = event.at
            else:
                started.pop(item_id, None)
        return started

    def follow(
        self,
        *,
        types: Collection[str] | None = None,
        poll_secs: float = 0.2,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Event]:
        """Like `tail -f`: every event on file, then each new one as it is written.

        Ends once `stop()` is true and nothing new is left to read (never without `stop`).
        A line still being written is held back until its newline arrives.
        """
        position = 0
        number = 0
        pending = b""
        while True:
            chunk = self._read_from(position)
            position += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                number += 1
                if not line.strip():
                    continue
                try:
                    event = self._file.parse(line + b"\n")
                except ValueError as exc:
                    raise JobStateError(
                        f"{self.path}:{number}: corrupt event line ({exc})"
                    ) from exc
                if types is None or event.type in types:
                    yield event
            if not chunk:
                if stop is not None and stop():
                    return
                time.sleep(poll_secs)

    def close(self) -> None:
        self._file.close()

    def _read_from(self, position: int) -> bytes:
        try:
            with self.path.open("rb") as file:
                file.seek(position)
                return file.read()
        except FileNotFoundError:
            return b""


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _as_json(data: dict[str, Any]) -> dict[str, Any]:
    if all(type(value) in _SCALARS for value in data.values()):
        return data  # the usual event (item.started, item.finished): nothing to convert
    plain: dict[str, Any] = converter.unstructure(data)
    try:
        json.dumps(plain)
    except (TypeError, ValueError):
        plain = json.loads(json.dumps(plain, default=str))
    return plain
