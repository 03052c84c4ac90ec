"""A step's output reaches a callback while the step runs: chunks from the runner, then whole,
masked lines per stream; nothing waits for the step to end, nothing grows without bound."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mapreduce_fsm.commands import SecretMasker, StepContext, run_step, run_steps
from mapreduce_fsm.commands.output_lines import MAX_LINE_CHARS, OutputLines
from mapreduce_fsm.commands.process import run_process
from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.config.model import OnFailure, Step

# Prints two lines, the second without a newline yet, then waits for the file `go` (which
# the test creates only once it has seen the first line), then ends the line and a third.
WAITS_FOR_GO = "printf 'a\\nb'; while [ ! -f go ]; do sleep 0.02; done; printf 'c\\n'"


def test_run_process_calls_back_with_output_while_the_program_runs(tmp_path: Path) -> None:
    chunks: list[tuple[str, bytes]] = []

    def on_output(stream: str, chunk: bytes) -> None:
        chunks.append((stream, chunk))
        if b"a\n" in b"".join(data for _, data in chunks):
            (tmp_path / "go").touch()  # the program goes on only after we saw its first line

    outcome = asyncio.run(run_process(
        ("sh", "-c", WAITS_FOR_GO), cwd=tmp_path, env=dict(os.environb), timeout=60,
        max_output_bytes=1 << 20, kill_grace_secs=0.5, on_output=on_output))
    assert not outcome.timed_out and outcome.exit_code == 0  # it did not wait for the end
    assert {stream for stream, _ in chunks} == {"stdout"}
    assert b"".join(data for _, data in chunks) == b"a\nbc\n"
    assert outcome.stdout == "a\nbc\n"  # the result is whole, as without a callback


def test_run_process_streams_what_its_cap_drops_and_stderr_apart(tmp_path: Path) -> None:
    received: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def on_output(stream: str, chunk: bytes) -> None:
        received[stream] += chunk

    outcome = asyncio.run(run_process(
        ("sh", "-c", "printf 0123456789; printf oops >&2"), cwd=tmp_path,
        env=dict(os.environb), timeout=60, max_output_bytes=4, kill_grace_secs=0.5,
        on_output=on_output))
    assert outcome.stdout_dropped == 6
    assert received == {"stdout": b"0123456789", "stderr": b"oops"}


def lines_of(chunks: list[bytes], masker: SecretMasker | None = None) -> list[str]:
    got: list[str] = []
    lines = OutputLines("stdout", lambda stream, line: got.append(line),
                        masker or SecretMasker(()))
    for chunk in chunks:
        lines.feed(chunk)
    lines.finish()
    return got


def test_lines_are_whole_across_chunks_and_the_last_partial_one_comes_at_the_end() -> None:
    assert lines_of([b"on", b"e\ntw", b"o\n\nthr", b"ee"]) == ["one", "two", "", "three"]


def test_a_line_is_given_as_soon_as_it_is_complete() -> None:
    got: list[str] = []
    lines = OutputLines("stderr", lambda stream, line: got.append(f"{stream}:{line}"),
                        SecretMasker(()))
    lines.feed(b"first\nsec")
    assert got == ["stderr:first"]
    lines.feed(b"ond\n")
    assert got == ["stderr:first", "stderr:second"]
    lines.finish()
    assert got == ["stderr:first", "stderr:second"]  # nothing was left over


def test_line_ends_are_those_of_the_output_printed_at_the_end_of_a_step() -> None:
    # \r\n split across two chunks is one line end, not an extra empty line
    assert lines_of([b"one\r", b"\ntwo\rthree\r\n"]) == ["one", "two", "three"]
    assert lines_of([b"end\r"]) == ["end"]


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    encoded = "naïve\n".encode()
    split = encoded.index(b"\xc3") + 1
    assert lines_of([encoded[:split], encoded[split:]]) == ["naïve"]
    assert lines_of([b"bad \xff byte\n"]) == ["bad \ufffd byte"]


def test_a_line_without_end_is_given_in_pieces_and_never_held_whole() -> None:
    got: list[str] = []
    lines = OutputLines("stdout", lambda stream, line: got.append(line), SecretMasker(()))
    for _ in range(10):
        lines.feed(b"x" * 65536)
        assert len(lines.pending) <= MAX_LINE_CHARS
    lines.finish()
    assert "".join(got) == "x" * 655360
    assert all(len(piece) <= MAX_LINE_CHARS for piece in got) and len(got) >= 10


def test_secrets_are_masked_in_every_line_even_across_chunks_and_pieces() -> None:
    secret = "hunter2-secret"
    masker = SecretMasker((secret,))
    assert lines_of([b"pw hunter", b"2-secret ok\n"], masker) == ["pw *** ok"]
    # a secret where a line too long to hold is cut into pieces is not cut with it
    for offset in range(-len(secret), 2):
        head = "y" * (MAX_LINE_CHARS + offset)
        text = head + secret + "z" * 10
        pieces = lines_of([text[:MAX_LINE_CHARS].encode(), text[MAX_LINE_CHARS:].encode()],
                          masker)
        assert "".join(pieces) == masker.mask(text), offset
        assert all(secret not in piece and "hunter" not in piece[-20:] for piece in pieces)


def test_a_multi_line_secret_is_masked_line_by_line() -> None:
    secret = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n-----END KEY-----"
    got = lines_of([f"key:\n{secret}\ndone\n".encode()], SecretMasker((secret,)))
    assert got == ["key:", "***", "***", "***", "done"]


def test_a_step_gives_its_lines_live_per_stream_with_secrets_masked(tmp_path: Path) -> None:
    got: list[tuple[str, str]] = []

    def on_line(stream: str, line: str) -> None:
        got.append((stream, line))
        if line == "pw ***":
            (tmp_path / "go").touch()

    step = Step(shell="echo pw $TOKEN; echo warn >&2; "
                      "while [ ! -f go ]; do sleep 0.02; done; printf tail", timeout=60)
    context = StepContext(cwd=tmp_path, env={"TOKEN": "hunter2"},
                          masker=SecretMasker(("hunter2",)), on_output_line=on_line)
    result = asyncio.run(run_step(step, {}, context))
    assert result.status == "success"  # it went on: the first line arrived while it waited
    assert [line for stream, line in got if stream == "stdout"] == ["pw ***", "tail"]
    assert [line for stream, line in got if stream == "stderr"] == ["warn"]
    assert result.stdout == "pw ***\ntail"


def test_each_step_of_a_sequence_streams_to_its_own_callback(tmp_path: Path) -> None:
    got: list[tuple[int, str, str]] = []

    def output_of_step(index: int) -> Any:
        return lambda stream, line: got.append((index, stream, line))

    steps = [
        Step(shell="echo one"),
        Step(shell="echo broken >&2; exit 3",
             on_failure=OnFailure(handlers=(Step(shell="echo handler ran"),))),
        Step(shell="echo three"),
    ]
    done: list[int] = []

    async def on_step_done(index: int, result: StepResult, after: Mapping[str, Any]) -> None:
        done.append(index)

    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path), start_index=0,
                                    on_step_done=on_step_done, output_of_step=output_of_step))
    assert outcome.ok and done == [0, 1, 2]
    assert got == [
        (0, "stdout", "one"),
        (1, "stderr", "broken"),
        (1, "stdout", "handler ran"),
        (1, "stderr", "[on_failure attempt 1/1: handled]"),  # the step's own note, live too
        (2, "stdout", "three"),
    ]


def test_an_error_of_the_callback_is_raised_once_the_program_ended(
    tmp_path: Path, caplog: Any
) -> None:
    # Raised in the event loop's read callback, it was logged by asyncio as "Exception in
    # callback" (a traceback for the user) and the step went on as if nothing happened.
    calls: list[bytes] = []

    def on_output(stream: str, chunk: bytes) -> None:
        calls.append(chunk)
        raise OSError(32, "Broken pipe")

    try:
        asyncio.run(run_process(
            ("sh", "-c", "echo one; sleep 0.2; echo two; touch ended"), cwd=tmp_path,
            env=dict(os.environb), timeout=60, max_output_bytes=1 << 20, kill_grace_secs=0.5,
            on_output=on_output))
    except OSError as error:
        assert error.errno == 32
    else:
        raise AssertionError("the callback's error was not raised")
    assert (tmp_path / "ended").exists()  # the program ran to its end first
    assert calls == [b"one\n"]  # not called again after it failed
    assert "Exception in callback" not in caplog.text


def test_a_big_chunk_of_a_line_without_end_is_cut_into_pieces_of_at_most_the_maximum() -> None:
    # One read of a pipe may be much longer than MAX_LINE_CHARS.
    got = lines_of([b"x" * (MAX_LINE_CHARS * 5 + 7)], SecretMasker(("hunter2",)))
    assert "".join(got) == "x" * (MAX_LINE_CHARS * 5 + 7)
    assert all(len(piece) <= MAX_LINE_CHARS for piece in got)
