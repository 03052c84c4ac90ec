"""Talking to the person running a job: prompts and messages on a console, without one, scripted."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console

YES_WORDS = frozenset({"y", "yes"})
NO_WORDS = frozenset({"n", "no"})


class UserInteraction(Protocol):
    """What phases may ask and tell the user; the reduce confirmation is the main prompt.

    Messages go to stderr, so stdout stays free for `--json` and for piping.
    """

    @property
    def interactive(self) -> bool:
        """True when prompts reach a person who can answer them."""
        ...

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        """The answer, for callers outside an event loop (the wait blocks the thread)."""
        ...

    async def ask_yes_no(self, question: str, *, default: bool) -> bool:
        """The answer, for phases: the event loop runs while the person thinks, so Ctrl-C
        (which cancels the run) ends the question at once and no answer is made up."""
        ...

    def display_info(self, message: str) -> None: ...

    def display_warning(self, message: str) -> None: ...


class _ConsoleMessages:
    """Messages on a rich console (stderr by default); `quiet` drops info, never warnings.

    Message text is printed literally: brackets in it are never taken as rich markup.
    rich is imported only when something is printed (it is slow to import, and a quiet
    run may print nothing).
    """

    def __init__(self, console: Console | None, quiet: bool) -> None:
        self._console = console
        self.quiet = quiet

    @property
    def console(self) -> Console:
        """The console given, else one on stderr made on first use."""
        if self._console is None:
            from rich.console import Console

            # soft_wrap: long lines are left whole (a log keeps them greppable; a terminal
            # wraps them itself) instead of being cut at rich's width, 80 without a terminal.
            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def _print(self, message: str, style: str = "", *, end: str = "\n") -> None:
        from rich.text import Text

        self.console.print(Text(message, style=style), end=end)

    def _print_labelled(self, label: str, label_style: str, message: str) -> None:
        from rich.text import Text

        self.console.print(Text.assemble((label, label_style), message))

    def display_info(self, message: str) -> None:
        if not self.quiet:
            self._print(message)

    def display_warning(self, message: str) -> None:
        self._print_labelled("warning: ", "bold yellow", message)


class ConsoleInteraction(_ConsoleMessages):
    """A person at a terminal: questions go to the console, answers are read from stdin.

    `prompt_yes_no` takes y/yes/n/no in any case, an empty line for the default, and asks
    again after anything else. Closed input (end of file) answers no, with a warning that
    points at `--yes`.
    """

    def __init__(self, *, console: Console | None = None, quiet: bool = False,
                 input_stream: TextIO | None = None) -> None:
        super().__init__(console, quiet)
        self.input_stream = input_stream if input_stream is not None else sys.stdin
        self._unread = b""  # read from the descriptor past the last answer line

    @property
    def interactive(self) -> bool:
        return True

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        """The answer; end of input (Ctrl-D) is "no", whatever the default, and says so."""
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            self._print(f"{question} {hint}", end=" ")
            decided = self._decide(self._read_line(), default)
            if decided is not None:
                return decided

    async def ask_yes_no(self, question: str, *, default: bool) -> bool:
        """As `prompt_yes_no`, but waits for the answer without blocking the event loop."""
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            self._print(f"{question} {hint}", end=" ")
            decided = self._decide(await self._read_line_async(), default)
            if decided is not None:
                return decided

    def _decide(self, answer: str | None, default: bool) -> bool | None:
        """What an answer line means; None (after saying so) when it means nothing."""
        if answer is None:
            self._print("")
            self.display_warning(
                "no answer (standard input is closed): taken as no. "
                "Run with --yes to answer yes without asking."
            )
            return False
        answer = answer.lower()
        if not answer:
            return default
        if answer in YES_WORDS:
            return True
        if answer in NO_WORDS:
            return False
        self._print(f"please answer yes or no (not {answer!r})")
        return None

    def _read_line(self) -> str | None:
        """The answer line, stripped; None at the end of input."""
        line = self.input_stream.readline()
        return line.strip() if line else None

    async def _read_line_async(self) -> str | None:
        """The answer line, stripped, None at the end of input; the loop runs meanwhile.

        Reads the stream's file descriptor itself, keeping what follows the line for the
        next question. A stream without one (a StringIO) is read as `_read_line` does.
        """
        try:
            fd = self.input_stream.fileno()
        except (AttributeError, OSError, ValueError):
            return self._read_line()
        while b"\n" not in self._unread:
            await _readable(fd)
            chunk = os.read(fd, 4096)
            if not chunk:  # end of input: what is left, else None
                rest, self._unread = self._unread, b""
                return rest.decode(errors="replace").strip() if rest else None
            self._unread += chunk
        line, _, self._unread = self._unread.partition(b"\n")
        return line.decode(errors="replace").strip()


async def _readable(fd: int) -> None:
    """Wait until `fd` can be read without blocking; a terminal in line mode is readable
    once Enter (or Ctrl-D) is pressed. A descriptor the loop cannot watch (a regular
    file) is taken as readable now."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError, NotImplementedError):
        return
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class NonInteractive(_ConsoleMessages):
    """Nobody to ask (`--yes`, or no terminal): every yes/no question gets `answer`.

    Each answer is printed as "<question> -> yes (<reason>)", even with `quiet`, so a log
    shows what was decided and why.
    """

    def __init__(self, *, answer: bool = True, reason: str = "no terminal",
                 console: Console | None = None, quiet: bool = False) -> None:
        super().__init__(console, quiet)
        self.answer = answer
        self.reason = reason

    @property
    def interactive(self) -> bool:
        return False

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        word = "yes" if self.answer else "no"
        self._print(f"{question} -> {word} ({self.reason})")
        return self.answer

    async def ask_yes_no(self, question: str, *, default: bool) -> bool:
        return self.prompt_yes_no(question, default=default)


class SilentInteraction(NonInteractive):
    """The library's default: decides as `NonInteractive` does and prints nothing at all.

    An embedder asks for output by passing another interaction; the command line does.
    """

    def _print(self, message: str, style: str = "", *, end: str = "\n") -> None:
        return  # nothing is printed: the decision is in the job's events

    def _print_labelled(self, label: str, label_style: str, message: str) -> None:
        return


class ScriptedInteraction:
    """For tests: answers given up front, used in order; everything said is recorded.

    `prompts` lists the questions asked; `messages` lists `(level, text)` in order, with
    level one of prompt, info, warning. A prompt with no answer left, or with an answer
    that is not a bool, raises `AssertionError` naming the prompt.
    """

    def __init__(self, answers: Iterable[bool] = ()) -> None:
        self.answers: list[object] = list(answers)
        self.prompts: list[str] = []
        self.messages: list[tuple[str, str]] = []

    @property
    def interactive(self) -> bool:
        return True

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        answer = self._next(question)
        if not isinstance(answer, bool):
            raise AssertionError(f"the scripted answer {answer!r} to the yes/no prompt "
                                 f"{question!r} is not a bool")
        return answer

    async def ask_yes_no(self, question: str, *, default: bool) -> bool:
        return self.prompt_yes_no(question, default=default)

    def display_info(self, message: str) -> None:
        self.messages.append(("info", message))

    def display_warning(self, message: str) -> None:
        self.messages.append(("warning", message))

    def _next(self, question: str) -> object:
        self.prompts.append(question)
        self.messages.append(("prompt", question))
        if not self.answers:
            raise AssertionError(f"no scripted answer left for the prompt {question!r}")
        return self.answers.pop(0)


def choose_interaction(*, assume_yes: bool, quiet: bool,
                       stdin_isatty: bool | None = None) -> UserInteraction:
    """A console when a person can answer; otherwise answer yes and say why.

    `stdin_isatty` overrides the check of the real standard input (for tests).
    """
    if assume_yes:
        return NonInteractive(reason="--yes", quiet=quiet)
    if stdin_isatty is None:
        stdin_isatty = _isatty(sys.stdin)
    if stdin_isatty:
        return ConsoleInteraction(quiet=quiet)
    return NonInteractive(reason="no terminal", quiet=quiet)


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # a closed stream
        return False
