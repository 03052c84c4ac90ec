"""Step output kept in the job directory: `logs/<phase>.jsonl`, one line per step run.

One JSON-lines file per phase, not a file per item: a map of 100,000 items would make
100,000 files (slow to create, list and delete, and a strain on inodes), while one file
is appended like the results journal. Each line starts with its item id, so reading one
item's output filters lines on their first bytes without parsing the others.
Only the process running the job writes here (a remote backend ships the output back in
the item's outcome).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import attrs

from mapreduce_fsm.errors import failing_as_environment

LOGS_DIR = "logs"
PHASE_LOG_NAMES = ("setup", "map", "reduce")
STEP_OUTPUT_CAP_BYTES = 64 * 1024  # of a step's stdout, and of its stderr, kept in the log


@attrs.frozen(kw_only=True)
class StepOutput:
    """What one step printed: its stdout and stderr (each capped) and how it ended."""

    index: int  # 0-based position in the phase's (or template's) steps
    step: str  # the step's label
    status: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""


@attrs.frozen(kw_only=True)
class StepLogLine:
    """A `StepOutput` as kept: for the map, with its item and attempt."""

    output: StepOutput
    item_id: str | None = None
    attempt: int = 1

    def to_json(self) -> str:
        output = self.output
        return json.dumps({
            "item_id": self.item_id, "attempt": self.attempt, "index": output.index,
            "step": output.step, "status": output.status, "exit_code": output.exit_code,
            "stdout": output.stdout, "stderr": output.stderr,
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: bytes) -> StepLogLine:
        value = json.loads(line)
        output = StepOutput(index=value["index"], step=value["step"], status=value["status"],
                            exit_code=value["exit_code"], stdout=value["stdout"],
                            stderr=value["stderr"])
        return cls(output=output, item_id=value["item_id"], attempt=value["attempt"])


def capped(text: str, cap_bytes: int = STEP_OUTPUT_CAP_BYTES) -> str:
    """`text` cut to `cap_bytes` of UTF-8, saying how much was dropped."""
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= cap_bytes:
        return text
    kept = encoded[:cap_bytes].decode("utf-8", errors="ignore")
    return kept + f"\n[... {len(encoded) - cap_bytes} bytes dropped]\n"


@attrs.define
class StepLogs:
    """The step output of one phase of a job: append as steps end, read back by item."""

    path: Path  # <job>/logs/<phase>.jsonl
    _file: TextIO | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, job_path: Path, phase: str) -> StepLogs:
        return cls(job_path / LOGS_DIR / f"{phase}.jsonl")

    def append(self, outputs: Sequence[StepOutput], *, item_id: str | None = None,
               attempt: int = 1) -> None:
        if not outputs:
            return
        text = "".join(StepLogLine(output=output, item_id=item_id, attempt=attempt).to_json()
                       + "\n" for output in outputs)
        with failing_as_environment("write", self.path):
            if self._file is None:
                self.path.parent.mkdir(exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(text)
            self._file.flush()  # whole lines reach the file at once: `logs --follow` reads them

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self, *, item_id: str | None = None, offset: int = 0
             ) -> tuple[list[StepLogLine], int]:
        """The whole lines from byte `offset` on (those of `item_id` only, when given), and
        the offset after the last whole line: read again from there to follow the log."""
        prefix = _line_prefix(item_id) if item_id is not None else b""
        lines: list[StepLogLine] = []
        try:
            with self.path.open("rb") as file:
                file.seek(offset)
                for raw in file:
                    if not raw.endswith(b"\n"):
                        break  # being written: read it next time
                    offset += len(raw)
                    if raw.startswith(prefix):
                        lines.append(StepLogLine.from_json(raw))
        except FileNotFoundError:
            pass
        return lines, offset


def _line_prefix(item_id: str) -> bytes:
    return ('{"item_id":' + json.dumps(item_id, ensure_ascii=False) + ",").encode()
