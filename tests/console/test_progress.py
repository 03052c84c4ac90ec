"""Progress reporters: timed plain lines with counts, rate and ETA; the silent one; the rich bar."""

from __future__ import annotations

import io

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from mapreduce_fsm.console.counts import format_duration
from mapreduce_fsm.console.progress import (
    LineProgress,
    NullProgress,
    ProgressReporter,
    choose_progress,
)
from mapreduce_fsm.console.progress_bar import RichProgress


@attrs.define
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def line_progress(interval: float = 5.0) -> tuple[LineProgress, FakeClock, io.StringIO]:
    clock, stream = FakeClock(), io.StringIO()
    return LineProgress(stream, interval=interval, clock=clock), clock, stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_line_progress_prints_at_most_once_per_interval_with_counts_rate_and_eta() -> None:
    progress, clock, stream = line_progress(interval=5)
    progress.start(100)
    for index in range(10):
        progress.item_started(f"item-{index}")
    for index in range(4):
        clock.now += 1
        progress.item_finished(f"item-{index}", "failed" if index == 0 else "success")
    assert lines(stream) == []  # 4 s in: nothing yet
    clock.now += 1
    progress.item_finished("item-4", "timeout")
    assert lines(stream) == [
        "map: 5/100 done (2 failed, 5 running), 1.0 items/s, ETA 1m35s"
    ]
    clock.now += 2
    progress.item_finished("item-5", "skipped")
    assert len(lines(stream)) == 1  # 2 s after the last line: still quiet
    clock.now += 3
    progress.item_finished("item-6", "success")
    assert lines(stream)[-1] == "map: 7/100 done (2 failed, 3 running), 0.7 items/s, ETA 2m13s"


def test_line_progress_final_line_and_only_once() -> None:
    progress, clock, stream = line_progress()
    progress.start(3)
    for index, status in enumerate(["success", "failed", "success"]):
        progress.item_started(str(index))
        progress.item_finished(str(index), status)
    clock.now += 2
    progress.close()
    progress.close()
    assert lines(stream) == ["map: finished 3/3 (1 failed) in 2s, 1.5 items/s"]


def test_a_map_closed_before_every_item_ended_says_where_it_stopped() -> None:
    progress, clock, stream = line_progress()
    progress.start(3)
    progress.item_started("0")
    progress.item_finished("0", "success")
    progress.item_started("1")  # still running when the map is stopped (Ctrl-C, stop)
    clock.now += 2
    progress.close()
    assert lines(stream) == ["map: stopped at 1/3 (0 failed) in 2s, 0.5 items/s"]


def test_line_progress_close_before_start_prints_nothing() -> None:
    progress, _, stream = line_progress()
    progress.close()
    assert stream.getvalue() == ""


def test_resumed_map_counts_earlier_items_as_done_but_not_in_the_rate() -> None:
    progress, clock, stream = line_progress(interval=10)
    progress.start(1000, already_done=600)
    for index in range(100):
        if index == 99:
            clock.now += 10
        progress.item_started(str(index))
        progress.item_finished(str(index), "success")
    assert lines(stream) == ["map: 700/1000 done (0 failed, 0 running), 10.0 items/s, ETA 30s"]


def test_resumed_map_counts_earlier_failures_as_failed() -> None:
    progress, clock, stream = line_progress(interval=10)
    progress.start(5, already_done=3, already_failed=3)  # e.g. `dlq retry` of 2 of 5 items
    for item_id in ("a", "b"):
        progress.item_started(item_id)
        progress.item_finished(item_id, "success")
    clock.now += 1
    progress.close()
    assert lines(stream)[-1].startswith("map: finished 5/5 (3 failed) in 1s")


def test_retries_of_an_item_count_it_as_running_once() -> None:
    progress, clock, stream = line_progress(interval=1)
    progress.start(2)
    for _ in range(3):  # three attempts at the same item, a wait between each
        progress.item_started("flaky")
        progress.item_waiting("flaky", 0.5)
    progress.item_started("flaky")
    progress.item_started("other")
    clock.now += 1
    progress.item_finished("other", "success")
    assert "(0 failed, 1 running)" in lines(stream)[-1]
    clock.now += 1
    progress.item_finished("flaky", "failed")
    assert "2/2 done (1 failed, 0 running)" in lines(stream)[-1]


def test_an_item_waiting_for_its_retry_is_waiting_not_running_and_the_eta_counts_it() -> None:
    progress, clock, stream = line_progress(interval=1)
    progress.start(3)
    for item_id in ("a", "b", "c"):
        progress.item_started(item_id)
    progress.item_waiting("c", 120.0)  # c failed; its retry starts in two minutes
    clock.now += 1
    progress.item_finished("a", "success")
    clock.now += 1
    progress.item_finished("b", "success")  # the rate alone would say ETA 1s
    assert lines(stream)[-1] == (
        "map: 2/3 done (0 failed, 0 running, 1 waiting), 1.0 items/s, ETA 1m58s")
    progress.item_started("c")
    clock.now += 1
    progress.item_finished("c", "success")
    assert lines(stream)[-1].startswith("map: 3/3 done (0 failed, 0 running), ")


def test_notes_are_printed_at_once() -> None:
    progress, _, stream = line_progress()
    progress.start(10)
    progress.note("circuit breaker open: waiting 30s")
    assert lines(stream) == ["map: circuit breaker open: waiting 30s"]


def test_unknown_rate_gives_an_unknown_eta() -> None:
    progress, _, stream = line_progress(interval=0)
    progress.start(5)
    progress.item_started("a")
    progress.item_finished("a", "success")  # no time has passed
    assert lines(stream) == ["map: 1/5 done (0 failed, 0 running), 0.0 items/s, ETA ?"]


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (42.4, "42s"), (59.6, "1m00s"), (195, "3m15s"), (3599, "59m59s"),
    (7325, "2h02m"), (90000, "25h00m"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.lists(st.tuples(st.sampled_from(["success", "failed", "timeout", "skipped"]),
                          st.floats(0, 3)), max_size=60))
def test_final_line_counts_match_what_was_reported(
    finished: list[tuple[str, float]],
) -> None:
    progress, clock, stream = line_progress()
    progress.start(len(finished))
    for index, (status, pause) in enumerate(finished):
        progress.item_started(str(index))
        clock.now += pause
        progress.item_finished(str(index), status)
    progress.close()
    failed = sum(status in ("failed", "timeout") for status, _ in finished)
    final = lines(stream)[-1]
    assert final.startswith(f"map: finished {len(finished)}/{len(finished)} ({failed} failed)")
    for line in lines(stream)[:-1]:
        assert "running" in line and line.startswith("map: ")


def test_null_progress_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    progress = NullProgress()
    progress.start(10, already_done=2)
    progress.item_started("a")
    progress.item_finished("a", "failed")
    progress.note("a note")
    progress.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_rich_progress_shows_the_bar_counts_and_notes() -> None:
    stream = TerminalStream()
    clock = FakeClock()
    progress = RichProgress(stream, clock=clock)
    progress.start(4, already_done=1)
    progress.item_started("a")
    progress.item_started("b")
    clock.now += 2
    progress.item_finished("a", "failed")
    progress.note("circuit breaker open")
    progress.close()
    text = stream.getvalue()
    assert "map: circuit breaker open" in text
    assert "2/4" in text
    assert "1 failed, 1 running, 0.5 items/s, ETA 4s" in text


def test_rich_progress_row_fits_an_80_column_terminal_for_a_big_job() -> None:
    stream = TerminalStream()
    clock = FakeClock()
    progress = RichProgress(stream, clock=clock)
    progress.start(12000, already_done=11000)
    for index in range(150):
        progress.item_started(str(index))
    clock.now += 100
    for index in range(100):
        progress.item_finished(str(index), "failed" if index < 10 else "success")
    progress.close()
    rows = Text.from_ansi(stream.getvalue()).plain.splitlines()
    final = [row for row in rows if "ETA" in row][-1]
    assert "11100/12000" in final and "10 failed, 50 running, 1.0 items/s, ETA 15m00s" in final
    assert len(final.rstrip()) <= 80


def test_rich_progress_can_run_a_second_map() -> None:
    stream = TerminalStream()
    progress = RichProgress(stream, clock=FakeClock())
    progress.start(2)
    progress.close()
    progress.start(3)
    progress.item_started("x")
    progress.item_finished("x", "success")
    progress.close()
    assert "1/3" in stream.getvalue()


def test_choose_progress() -> None:
    assert isinstance(choose_progress(quiet=True, stream=TerminalStream()), NullProgress)
    assert isinstance(choose_progress(quiet=False, stream=TerminalStream()), RichProgress)
    plain = choose_progress(quiet=False, stream=io.StringIO())
    assert isinstance(plain, LineProgress) and plain.interval == 5.0


def test_choose_progress_defaults_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    chosen = choose_progress(quiet=False)
    assert isinstance(chosen, LineProgress) and chosen.stream is stream


def test_every_reporter_satisfies_the_protocol() -> None:
    reporters: list[ProgressReporter] = [NullProgress(), LineProgress(io.StringIO()),
                                         RichProgress(TerminalStream())]
    for reporter in reporters:
        reporter.start(0)
        reporter.close()


def test_rich_progress_does_not_redraw_per_item() -> None:
    stream = TerminalStream()
    progress = RichProgress(stream)
    progress.start(5000)
    before = len(stream.getvalue())
    for index in range(5000):
        progress.item_started(str(index))
        progress.item_finished(str(index), "success")
    drawn = len(stream.getvalue()) - before
    progress.close()
    assert drawn < 50 * 200  # a redraw per item would be 5000 rows of ~200 characters


def test_rich_progress_leaves_stdout_alone(capsys: pytest.CaptureFixture[str]) -> None:
    stream = TerminalStream()
    progress = RichProgress(stream)
    progress.start(2)
    print('{"result": 1}')
    progress.close()
    assert capsys.readouterr().out == '{"result": 1}\n'
    assert "result" not in stream.getvalue()
