"""The event log: numbering across reopens, subscribers, reading and following."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from mapreduce_fsm.state import EventLog
from mapreduce_fsm.state.records import Event

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_emit_writes_a_numbered_timestamped_event(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "job-1")
    first = log.emit("job.started", workflow="demo")
    second = log.emit("phase.entered", phase="setup")
    assert (first.seq, second.seq) == (1, 2)
    assert ISO_MS.fullmatch(first.at)
    assert (first.job_id, first.type, first.phase, dict(first.data)) == (
        "job-1", "job.started", None, {"workflow": "demo"},
    )
    assert list(EventLog(tmp_path / "events.jsonl", "job-1").read()) == [first, second]
    log.close()


def test_seq_continues_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, "job-1")
    for _ in range(3):
        log.emit("tick")
    log.close()
    reopened = EventLog(path, "job-1")
    assert reopened.emit("tick").seq == 4
    reopened.close()
    assert [event.seq for event in EventLog(path, "job-1").read()] == [1, 2, 3, 4]


def test_seq_continues_after_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, "job-1")
    log.emit("a")
    log.emit("b")
    log.close()
    path.write_bytes(path.read_bytes()[:-5])  # killed while writing event 2
    assert [event.seq for event in EventLog(path, "job-1").read()] == [1]
    reopened = EventLog(path, "job-1")
    assert reopened.emit("c").seq == 2
    reopened.close()
    assert [(e.seq, e.type) for e in EventLog(path, "job-1").read()] == [(1, "a"), (2, "c")]


def test_read_filters_by_type(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "job-1")
    for event_type in ("item.finished", "phase.entered", "item.finished"):
        log.emit(event_type)
    assert [e.seq for e in log.read(types={"item.finished"})] == [1, 3]


def test_read_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert list(EventLog(tmp_path / "events.jsonl", "job-1").read()) == []


def test_values_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "job-1")
    event = log.emit("step.done", cwd=tmp_path, count=2)
    assert dict(event.data) == {"cwd": str(tmp_path), "count": 2}
    assert next(log.read()) == event


def test_subscribers_see_events_until_they_unsubscribe(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "job-1")
    seen: list[Event] = []
    unsubscribe = log.subscribe(seen.append)
    log.emit("a")
    unsubscribe()
    log.emit("b")
    assert [event.type for event in seen] == ["a"]
    unsubscribe()  # a second call is harmless


def test_a_failing_subscriber_breaks_neither_the_log_nor_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog(tmp_path / "events.jsonl", "job-1")
    seen: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    log.subscribe(broken)
    log.subscribe(lambda event: seen.append(event.type))
    event = log.emit("a")
    assert seen == ["a"]
    assert list(log.read()) == [event]
    assert "subscriber bug" in caplog.text


def test_follow_sees_events_written_while_it_follows(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    EventLog(path, "job-1").emit("before")
    done = threading.Event()

    def writer() -> None:
        log = EventLog(path, "job-1")
        for index in range(20):
            log.emit("item.finished" if index % 2 else "tick", index=index)
            time.sleep(0.005)
        log.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    followed = list(EventLog(path, "job-1").follow(poll_secs=0.01, stop=done.is_set))
    thread.join()
    assert [event.seq for event in followed] == list(range(1, 22))
    assert followed == list(EventLog(path, "job-1").read())


def test_follow_filters_and_holds_back_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, "job-1")
    log.emit("tick")
    log.emit("item.finished")
    log.close()
    whole = path.read_bytes()
    with path.open("ab") as file:
        file.write(b'{"seq": 3, "at"')  # a writer is in the middle of this line
    stops = iter([False, True])
    followed = list(
        EventLog(path, "job-1").follow(types={"item.finished"}, poll_secs=0.01,
                                       stop=lambda: next(stops))
    )
    assert [event.seq for event in followed] == [2]
    assert path.read_bytes().startswith(whole)


def _log_with_garbage_at(path: Path, line: int) -> None:
    """Three events, with a garbage line inserted so that it is line number `line`."""
    log = EventLog(path, "job-1")
    for number in range(3):
        log.emit("item.finished", item_id=str(number))
    log.close()
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(line - 1, b"garbage\n")
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("line", [2, 4])
def test_follow_skips_a_corrupt_line_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, line: int
) -> None:
    path = tmp_path / "events.jsonl"
    _log_with_garbage_at(path, line)
    followed = list(EventLog(path, "job-1").follow(stop=lambda: True))
    assert [event.seq for event in followed] == [1, 2, 3]
    assert f"{path}:{line}: skipped a corrupt event line" in caplog.text


@pytest.mark.parametrize("line", [2, 4])
def test_read_skips_a_corrupt_line_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, line: int
) -> None:
    path = tmp_path / "events.jsonl"
    _log_with_garbage_at(path, line)
    assert [event.seq for event in EventLog(path, "job-1").read()] == [1, 2, 3]
    assert f"{path}:{line}: skipped a corrupt event line" in caplog.text


def test_emit_after_a_corrupt_last_line_goes_on_numbering(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.jsonl"
    _log_with_garbage_at(path, 4)
    assert EventLog(path, "job-1").emit("job.resumed").seq == 4
    assert f"{path}, last line: a corrupt event line" in caplog.text
    assert [event.seq for event in EventLog(path, "job-1").read()] == [1, 2, 3, 4]


def test_an_event_line_is_exactly_what_the_converter_writes(tmp_path: Path) -> None:
    # emit() renders events without cattrs for speed; the line must not differ from
    # the converter's, or readers of events.jsonl would see two formats.
    from mapreduce_fsm.convert import to_json

    path = tmp_path / "events.jsonl"
    log = EventLog(path, "job-ü")
    events = [
        log.emit("item.finished", phase="map", item_id="a/1", status="success", attempts=2,
                 duration_secs=0.25, error=None),
        log.emit("job.note", text="naïve \udcff bytes", nested={"k": [1, 2.5, None, True]}),
        log.emit("bare"),
    ]
    log.close()
    assert path.read_text(encoding="utf-8").splitlines() == [to_json(e) for e in events]
