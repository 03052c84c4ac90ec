"""A running step's output as whole, masked lines, given to a callback as they complete.

The subprocess runner hands over chunks as they are read; `OutputLines` keeps the part of
a line that has not ended yet and gives each line once it has, without its line end. Line
ends are those of `str.splitlines` (what the console printed when output was shown at the
end of a step), a `\\r\\n` split across two chunks included. The part left when the step
ends is given by `finish()`. A line that does not end is given in pieces of at most
`MAX_LINE_CHARS`, so nothing is held without bound. Every line is masked by the step's
`SecretMasker`, a secret never cut in two by a piece (`SecretMasker.safe_cut`); a multi-line
secret is masked line by line through its line forms (`masking.secret_forms`).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

from mapreduce_fsm.commands.masking import SecretMasker

MAX_LINE_CHARS = 65536

# Gets each line of a step's output as it comes: ("stdout" or "stderr", the masked line).
OutputLineCallback = Callable[[str, str], None]


class OutputLines:
    """One stream of one step: chunks in (`feed`), whole masked lines out to `on_line`.

    >>> lines = OutputLines("stdout", lambda stream, line: print(stream, line),
    ...                     SecretMasker(("hunter2",)))
    >>> lines.feed(b"token hunter2\\nhalf ")
    stdout token ***
    >>> lines.feed(b"a line\\n")
    stdout half a line
    """

    def __init__(self, stream: str, on_line: OutputLineCallback, masker: SecretMasker) -> None:
        self.stream = stream
        self.on_line = on_line
        self.masker = masker
        self.pending = ""  # the line begun and not ended yet
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> None:
        text = self.pending + self._decoder.decode(chunk)
        lines = text.splitlines(keepends=True)
        self.pending = lines.pop() if lines and not _ended(lines[-1]) else ""
        for line in lines:
            self._give(line.splitlines()[0])
        while len(self.pending) >= MAX_LINE_CHARS:
            # At most MAX_LINE_CHARS: one read may bring far more than that.
            cut = self.masker.safe_cut(self.pending[:MAX_LINE_CHARS])
            piece, self.pending = self.pending[:cut], self.pending[cut:]
            self._give(piece)

    def finish(self) -> None:
        """Give what is left: a last line without its end (and a lone `\\r`'s line)."""
        text = self.pending + self._decoder.decode(b"", final=True)
        self.pending = ""
        for line in text.splitlines():
            self._give(line)

    def _give(self, line: str) -> None:
        self.on_line(self.stream, self.masker.mask(line))


def _ended(line: str) -> bool:
    """Whether `line` (from splitlines with its end kept) is complete; one ending in `\\r`
    is not yet: a `\\n` may follow in the next chunk."""
    return line != line.splitlines()[0] and not line.endswith("\r")


class StepOutput:
    """Both streams of one run of a program: the runner's chunk callback (`on_chunk`) and
    `finish()` once it has ended."""

    def __init__(self, on_line: OutputLineCallback, masker: SecretMasker) -> None:
        self.streams = {name: OutputLines(name, on_line, masker) for name in ("stdout", "stderr")}

    def on_chunk(self, stream: str, chunk: bytes) -> None:
        self.streams[stream].feed(chunk)

    def finish(self) -> None:
        for lines in self.streams.values():
            lines.finish()
