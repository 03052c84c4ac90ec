"""The command line: parse arguments, call the public API, print, exit with the documented code."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence

import click

from mapreduce_fsm.cli.dlq import dlq
from mapreduce_fsm.cli.logs import logs
from mapreduce_fsm.cli.manage import clean, stop
from mapreduce_fsm.cli.run import resume, run
from mapreduce_fsm.cli.views import diagram, events, jobs, status
from mapreduce_fsm.errors import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MapReduceError,
    describe_os_error,
    is_environment_error,
)

EXIT_CODES_EPILOG = """\b
Exit codes:
  0    the job completed and every item succeeded
  1    the job failed (a phase failed, or the map stopped by its error policy)
  2    bad usage: a bad flag, workflow file or job id, a job another process runs,
       a refused resume (the file or input changed); stop: the job is not running
  3    the job paused (a question was answered no)
  4    the job completed but some items failed (dead-lettered or skipped)
  5    the environment failed (disk full, read-only, permission, unreachable scheduler)
  130  interrupted (Ctrl-C, SIGTERM or `stop`); the job can be resumed
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_EPILOG)
@click.version_option(package_name="mapreduce-fsm")
def cli() -> None:
    """Run MapReduce workflows written in YAML: setup, map over items in parallel, reduce."""


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
def validate(workflow: str) -> None:
    """Check WORKFLOW without running any step; exit 0 when valid, 2 otherwise."""
    from mapreduce_fsm import build_phases, load_workflow
    from mapreduce_fsm.commands.shell_command import raw_insertion_notes
    from mapreduce_fsm.config import describe_workflow

    loaded = load_workflow(workflow)
    build_phases(loaded)  # an unknown custom phase type is found now, not at run time
    click.echo(describe_workflow(loaded))
    for note in raw_insertion_notes(loaded):
        click.echo(note)


for command in (run, resume, jobs, status, stop, clean, events, logs, diagram, dlq):
    cli.add_command(command)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a command the way Ctrl-C does: exit 130


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `mapreduce-fsm`: turns every failure into a message and an exit code.

    Once the exit code is decided, SIGINT and SIGTERM are ignored: a signal that lands
    while the process exits cannot turn 130 (or any code) into death by that signal.
    """
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = _run_cli(argv)
    except KeyboardInterrupt:  # a second signal while the first was being reported
        code = EXIT_INTERRUPTED
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


def _run_cli(argv: Sequence[str] | None) -> int:
    """Run the command; the exit code it ends with, its message printed."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mapreduce-fsm",
                 standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except SystemExit as done:  # a command's own sys.exit(code)
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        click.echo(done.code, err=True)
        return EXIT_FAILED
    except (MapReduceError, OSError) as error:
        return _report_failure(error)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: say so plainly, keep the traceback for debugging
        if os.environ.get("MAPREDUCE_FSM_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"internal error: {type(error).__name__}: {error}\n"
            "This is a bug in mapreduce-fsm; set MAPREDUCE_FSM_DEBUG=1 to see the traceback.",
            err=True,
        )
        return EXIT_FAILED
    return 0


def _report_failure(error: MapReduceError | OSError) -> int:
    """Print the FIRST failure (one raised while handling another comes after, as "then:")
    and return its exit code: a full disk is not hidden by the failed cleanup it caused."""
    chain = [error]
    while True:
        earlier = _raised_while_handling(chain[-1])
        if not isinstance(earlier, MapReduceError | OSError) or earlier in chain:
            break
        chain.append(earlier)
    first, *later = reversed(chain)
    click.echo(f"error: {_describe(first)}", err=True)
    for failure in later:
        click.echo(f"then: {_describe(failure)}", err=True)
    if isinstance(first, MapReduceError):
        return first.exit_code
    return EXIT_ENVIRONMENT if is_environment_error(first) else EXIT_USAGE


def _raised_while_handling(error: BaseException) -> BaseException | None:
    """The exception being handled when `error` (or the cause it was raised from) was raised."""
    link = error
    while link.__suppress_context__:  # raised `from` its cause, or `from None`
        if link.__cause__ is None:
            return None
        link = link.__cause__
    return link.__context__


def _describe(error: MapReduceError | OSError) -> str:
    return describe_os_error(error) if isinstance(error, OSError) else str(error)
