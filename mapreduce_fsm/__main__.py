"""`python -m mapreduce_fsm` and the `mapreduce-fsm` command: start the command line.

Importing the command line takes a moment (click, attrs, cattrs, yaml). A Ctrl-C or
SIGTERM in that moment would print a traceback, or end the process with 143, before
`cli.main` could turn it into "interrupted" and exit 130. So until `main` takes over,
both signals end the program quietly: nothing has started yet, so nothing is lost.
"""

import io
import os
import signal
import sys

EXIT_INTERRUPTED = 130  # as errors.EXIT_INTERRUPTED, which is not imported yet on purpose


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write("interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def _open_closed_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`2>&-`) /dev/null in its place.

    Python then has None for `sys.stderr`, which every message of the run tripped on, and
    the next file opened would take descriptor 2, so a write meant for stderr (a fatal
    error's) would go into it.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115


class _StderrThatOutlivesItsReader(io.RawIOBase):
    """Descriptor 2 for `sys.stderr`, whose reader may go away (`2>&1 | head -1`): the
    console is then /dev/null and the run goes on to its own exit code.

    A broken pipe on stderr stopped the step whose line was shown, and click ended the
    process with 1 and no word, the job left stopped half way.
    """

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2

    def isatty(self) -> bool:
        return os.isatty(2)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return os.write(2, data)
        except BrokenPipeError:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            return len(data)


def _stderr_that_outlives_its_reader() -> None:
    stream = sys.stderr
    stream.flush()
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(_StderrThatOutlivesItsReader()), encoding=stream.encoding,
        errors=stream.errors, line_buffering=True, write_through=True)


def main() -> None:
    """Entry point: guard the start-up, then hand over to `cli.main`."""
    _open_closed_standard_streams()
    _stderr_that_outlives_its_reader()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupted_while_starting)
    from mapreduce_fsm.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
