"""The exception hierarchy: every error a user can see, each with its exit code."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence

import attrs

# Exit codes of the command line (docs/workflow-format.md section 7).
EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PAUSED = 3
EXIT_ITEMS_FAILED = 4  # the job completed, but some items failed (dead-lettered or skipped)
EXIT_ENVIRONMENT = 5
EXIT_INTERRUPTED = 130


class MapReduceError(Exception):
    """Base of every error this package raises on purpose; `str()` is the user message."""

    exit_code: int = EXIT_FAILED


class UsageError(MapReduceError):
    """A bad flag, argument or job id."""

    exit_code = EXIT_USAGE


@attrs.frozen(kw_only=True)
class ConfigIssue:
    """One problem in a workflow file: where it is and what is wrong."""

    file: str
    line: int | None
    path: str  # dotted field path, e.g. "map.max_parallel" ("" for the whole file)
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.column is not None and self.line is not None:
            where += f":{self.column}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class WorkflowFileError(MapReduceError):
    """A workflow file that cannot be loaded; carries every issue found, not just the first."""

    exit_code = EXIT_USAGE

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class InterpolationError(MapReduceError):
    """A `${...}` reference to a missing field in a known namespace."""


class ExpressionError(MapReduceError):
    """A `filter`, `when` or `sort_by` expression that does not parse; `column` is 1-based."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, expression: str, column: int | None = None) -> None:
        self.expression = expression
        self.column = column
        self.reason = message
        super().__init__(f"{self.located_reason} in {expression!r}")

    @property
    def located_reason(self) -> str:
        """The reason and, when known, "at column N": what a validation message shows."""
        return self.reason if self.column is None else f"{self.reason} at column {self.column}"


class InputError(MapReduceError):
    """Work items that cannot be loaded: a missing file, bad JSON, a failing command."""


class JobStateError(MapReduceError):
    """A job directory that is missing, corrupt, locked or does not match the workflow."""

    exit_code = EXIT_USAGE


class EnvironmentFailure(MapReduceError):
    """The environment failed: a full disk, a read-only file system, a permission, an
    unreachable scheduler, a directory workers cannot see. The message names what and where."""

    exit_code = EXIT_ENVIRONMENT


class CheckpointWriteError(EnvironmentFailure):
    """The job's checkpoint could not be saved (disk full, read-only, permission): the run stops."""


class JobLockedError(JobStateError):
    """Another live process holds the job's lock."""


# What the machine, not the user's input, is to blame for.
ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
})


def is_environment_error(error: BaseException) -> bool:
    """Whether `error` is the disk, the file system or a permission failing, not bad input."""
    return isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS


@contextlib.contextmanager
def failing_as_environment(operation: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an environment OSError inside into EnvironmentFailure "cannot <operation> <path>:
    <reason>"; any other OSError leaves with `path` as its file name if it had none.

    A write or an fsync that fails has no file name; this is where it gets one.
    """
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        if is_environment_error(error):
            raise EnvironmentFailure(f"cannot {operation} {os.fspath(path)}: {reason}") from error
        if error.filename is None:
            raise OSError(error.errno, reason, os.fspath(path)) from error
        raise


def describe_os_error(error: OSError) -> str:
    """"cannot use /path/dlq.jsonl: Is a directory": an OSError as a user reads it."""
    reason = error.strerror or str(error)
    return f"cannot use {error.filename}: {reason}" if error.filename else reason
