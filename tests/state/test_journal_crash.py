"""A process appending results is SIGKILLed: the journal still loads as a consistent prefix."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from mapreduce_fsm.state import ResultsJournal
from mapreduce_fsm.state.records import ItemResult

WRITER = """
import sys
from pathlib import Path
from mapreduce_fsm.state.records import ItemResult
from mapreduce_fsm.state import ResultsJournal

journal = ResultsJournal(Path(sys.argv[1]))
index = 0
while True:
    journal.append(ItemResult(item_id=f"item-{index}", item_index=index, item=index,
                              status="success", output="x" * (index % 97) * 1000))
    index += 1
"""


def test_sigkilled_writer_leaves_a_loadable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 20
        while (not path.exists() or path.stat().st_size < 2_000_000) and child.poll() is None:
            assert time.monotonic() < deadline, "the writer wrote too little"
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    loaded = ResultsJournal(path).load()
    count = len(loaded.results)
    assert count > 0 and loaded.lines == count
    assert len(loaded.warnings) <= 1
    for index in range(count):
        got = loaded.results[f"item-{index}"]
        assert (got.item_index, got.item, got.output) == (index, index, "x" * (index % 97) * 1000)

    resumed = ResultsJournal(path)  # the resumed run: runs the rest and appends
    resumed.append(ItemResult(item_id=f"item-{count}", item_index=count, item=count,
                              status="success"))
    resumed.close()
    again = ResultsJournal(path).load()
    assert again.warnings == () and set(again.results) == {f"item-{i}" for i in range(count + 1)}
