"""logs/<phase>.jsonl: appended per step, read back by item id without mixing up ids."""

from __future__ import annotations

from pathlib import Path

from mapreduce_fsm.state.logs import STEP_OUTPUT_CAP_BYTES, StepLogs, StepOutput, capped


def output(index: int, stdout: str) -> StepOutput:
    return StepOutput(index=index, step=f"s{index}", status="success", exit_code=0,
                      stdout=stdout)


def test_reading_one_item_keeps_only_its_lines_even_with_lookalike_ids(tmp_path: Path) -> None:
    logs = StepLogs.of(tmp_path, "map")
    logs.append([output(0, "a\n"), output(1, "b\n")], item_id='x"1', attempt=1)
    logs.append([output(0, "c\n")], item_id="x", attempt=1)
    logs.append([output(0, "d\n")], item_id='x"1', attempt=2)
    lines, _ = logs.read(item_id='x"1')
    assert [(line.attempt, line.output.stdout) for line in lines] == [
        (1, "a\n"), (1, "b\n"), (2, "d\n")]
    assert [line.output.stdout for line in logs.read(item_id="x")[0]] == ["c\n"]


def test_reading_from_an_offset_gives_only_new_whole_lines(tmp_path: Path) -> None:
    logs = StepLogs.of(tmp_path, "setup")
    logs.append([output(0, "one\n")])
    first, offset = logs.read()
    with logs.path.open("a", encoding="utf-8") as file:
        file.write('{"item_id":null,"attempt":1')  # a line being written
    assert logs.read(offset=offset) == ([], offset)
    assert [line.output.stdout for line in first] == ["one\n"]


def test_output_is_capped_saying_how_much_was_dropped() -> None:
    text = "x" * (STEP_OUTPUT_CAP_BYTES + 10)
    assert capped(text).endswith("\n[... 10 bytes dropped]\n")
    assert capped("short") == "short"
