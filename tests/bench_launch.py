"""Starting a measured command from a small process, so the peak RSS measured is its own.

Linux records, when a process execs, the high-water RSS of the memory it leaves: a child
of the bench (which grows to 100 MiB making jobs of 100,000 items and running the Dask
part) started with that figure, whatever it used itself. A launcher, a bare `python -S`,
forks the command from its own small memory instead, waits for it, and reports its wall
time (from the fork) and peak RSS (wait4).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import attrs

LAUNCHER = r"""
import os, sys, time
quiet = os.open(os.devnull, os.O_WRONLY)
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.dup2(quiet, 1)
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
print(started, flush=True)
_, status, usage = os.wait4(pid, 0)
print(time.monotonic() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


@attrs.frozen(kw_only=True)
class Ended:
    wall_secs: float  # from the fork to the end
    peak_rss_kib: int
    exit_code: int


class Launched:
    """A command started through the launcher; `started` is its fork's time.monotonic()."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, *argv], cwd=cwd,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=stderr, text=True)
        assert self.process.stdout is not None
        self.started = float(self.process.stdout.readline())

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> Ended:
        out, _ = self.process.communicate()
        wall, rss, code = out.split()
        return Ended(wall_secs=float(wall), peak_rss_kib=int(rss), exit_code=int(code))
