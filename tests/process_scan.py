"""Finding a test's processes by a marker in their command line (/proc), to count orphans."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def processes_with_marker(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat[stat.rindex(")") + 2:].split()[0]
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def kill_marked(marker: str) -> int:
    """SIGKILL every process holding `marker` (cleanup after a failed test); how many."""
    pids = processes_with_marker(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)
