"""Talking to the person running a job: prompts and messages, on a console, without one, or scripted."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol, TextIO

from rich.console import Console

from mapreduce_fsm.errors import UsageError


class UserInteraction(Protocol):
    """What phases may ask and tell; the reduce confirmation is the main prompt."""

    @property
    def interactive(self) -> bool: ...

    def prompt_yes_no(self, question: str, *, default: bool) -> bool: ...

    def prompt_text(self, question: str, *, default: str | None = None) -> str: ...

    def display_info(self, message: str) -> None: ...

    def display_warning(self, message: str) -> None: ...

    def display_error(self, message: str) -> None: ...

    def display_success(self, message: str) -> None: ...

    def display_progress(self, message: str) -> None: ...


class _Printer:
    """Messages on stderr; `quiet` drops info and progress, never warnings or errors."""

    def __init__(self, console: Console | None, quiet: bool) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet

    def display_info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, markup=False)

    def display_progress(self, message: str) -> None:
        self.display_info(message)

    def display_success(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[green]{message}[/green]")

    def display_warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    def display_error(self, message: str) -> None:
        self.console.print(f"[red]error:[/red] {message}", highlight=False)


class ConsoleInteraction(_Printer):
    """A person at a terminal: questions are asked and answers read from stdin."""

    interactive = True

    def __init__(self, *, console: Console | None = None, quiet: bool = False,
                 input_stream: TextIO | None = None) -> None:
        super().__init__(console, quiet)
        self.input_stream = input_stream or sys.stdin

    def _ask(self, question: str) -> str:
        self.console.print(question, end=" ", markup=False)
        line = self.input_stream.readline()
        if not line:  # end of input: nobody is there to answer
            raise UsageError(f"no answer to {question!r}: standard input closed (use --yes)")
        return line.strip()

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._ask(f"{question} {hint}").lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.console.print("please answer yes or no", markup=False)

    def prompt_text(self, question: str, *, default: str | None = None) -> str:
        suffix = f" [{default}]" if default is not None else ""
        answer = self._ask(f"{question}{suffix}")
        return answer or (default or "")


class NonInteractive(_Printer):
    """No person to ask (`--yes`, or no terminal): answers, and says what it answered."""

    interactive = False

    def __init__(self, *, answer: bool = True, reason: str = "no terminal",
                 console: Console | None = None, quiet: bool = False) -> None:
        super().__init__(console, quiet)
        self.answer, self.reason = answer, reason

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        word = "yes" if self.answer else "no"
        self.console.print(f"{question} -> {word} ({self.reason})", markup=False)
        return self.answer

    def prompt_text(self, question: str, *, default: str | None = None) -> str:
        if default is None:
            raise UsageError(f"{question!r} needs an answer, and there is nobody to ask "
                             f"({self.reason})")
        self.console.print(f"{question} -> {default} ({self.reason})", markup=False)
        return default


class ScriptedInteraction:
    """For tests: answers given up front; every prompt and message is recorded in order."""

    interactive = True

    def __init__(self, answers: Iterable[bool | str] = ()) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.messages: list[tuple[str, str]] = []

    def _next(self, question: str) -> bool | str:
        self.prompts.append(question)
        if not self.answers:
            raise AssertionError(f"no scripted answer left for the prompt {question!r}")
        return self.answers.pop(0)

    def prompt_yes_no(self, question: str, *, default: bool) -> bool:
        answer = self._next(question)
        if not isinstance(answer, bool):
            raise AssertionError(f"scripted answer {answer!r} to {question!r} is not a bool")
        return answer

    def prompt_text(self, question: str, *, default: str | None = None) -> str:
        return str(self._next(question))

    def display_info(self, message: str) -> None:
        self.messages.append(("info", message))

    def display_warning(self, message: str) -> None:
        self.messages.append(("warning", message))

    def display_error(self, message: str) -> None:
        self.messages.append(("error", message))

    def display_success(self, message: str) -> None:
        self.messages.append(("success", message))

    def display_progress(self, message: str) -> None:
        self.messages.append(("progress", message))


def choose_interaction(*, assume_yes: bool, quiet: bool,
                       stdin_isatty: bool | None = None) -> UserInteraction:
    """A console when a person can answer; otherwise answer yes and say why."""
    if assume_yes:
        return NonInteractive(reason="--yes", quiet=quiet)
    tty = sys.stdin.isatty() if stdin_isatty is None else stdin_isatty
    return ConsoleInteraction(quiet=quiet) if tty else NonInteractive(reason="no terminal",
                                                                      quiet=quiet)
