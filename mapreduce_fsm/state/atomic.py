"""Writing a file so that a reader sees either the old content or the new, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mapreduce_fsm.errors import failing_as_environment


def write_atomic(path: Path, data: str, *, durable: bool = True) -> None:
    """Replace `path` with `data` (UTF-8): temp file beside it, fsync, rename, fsync the dir.

    If anything fails before the rename, the old file is untouched and the temp file
    is removed. A full disk, a read-only file system or a permission is EnvironmentFailure
    naming `path`. Not `durable` (a cache its reader can do without): no fsyncs, so a
    killed process still leaves the old file or the new one whole, and a power loss may
    leave either, or an empty file.
    """
    with failing_as_environment("write", path):
        _write_atomic(path, data, durable)


def _write_atomic(path: Path, data: str, durable: bool) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data.encode("utf-8"))
            if durable:
                temp.flush()
                os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temp_files(directory: Path) -> list[Path]:
    """Delete temp files that a process killed mid-write left behind; returns them.

    Call only while no one else writes in `directory` (the job's lock is held).
    """
    removed = []
    for temp in directory.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            removed.append(temp)
    return removed
