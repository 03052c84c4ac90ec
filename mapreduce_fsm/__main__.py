"""`python -m mapreduce_fsm` and the `mapreduce-fsm` command: start the command line.

Importing the command line takes a moment (click, attrs, cattrs, yaml). A Ctrl-C or
SIGTERM in that moment would print a traceback, or end the process with 143, before
`cli.main` could turn it into "interrupted" and exit 130. So until `main` takes over,
both signals end the program quietly: nothing has started yet, so nothing is lost.
"""

import os
import signal
import sys

EXIT_INTERRUPTED = 130  # as errors.EXIT_INTERRUPTED, which is not imported yet on purpose


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write("interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """Entry point: guard the start-up, then hand over to `cli.main`."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupted_while_starting)
    from mapreduce_fsm.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
