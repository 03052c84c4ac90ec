"""UserInteraction: console prompts read from a stream, the non-interactive notice, scripts."""

from __future__ import annotations

import asyncio
import io
import os

import pytest
from rich.console import Console

from mapreduce_fsm.console.interaction import (
    ConsoleInteraction,
    NonInteractive,
    ScriptedInteraction,
    UserInteraction,
    choose_interaction,
)


def plain_console() -> tuple[Console, io.StringIO]:
    output = io.StringIO()
    return Console(file=output, width=200, color_system=None, highlight=False), output


def console_with_input(answers: str, *, quiet: bool = False) -> tuple[ConsoleInteraction,
                                                                     io.StringIO]:
    console, output = plain_console()
    interaction = ConsoleInteraction(console=console, quiet=quiet,
                                     input_stream=io.StringIO(answers))
    return interaction, output


@pytest.mark.parametrize(
    ("typed", "default", "expected"),
    [
        ("y\n", False, True), ("yes\n", False, True), ("YES\n", False, True),
        (" Y \n", False, True), ("n\n", True, False), ("no\n", True, False),
        ("No\n", True, False), ("\n", True, True), ("\n", False, False),
    ],
)
def test_console_yes_no_answers(typed: str, default: bool, expected: bool) -> None:
    interaction, output = console_with_input(typed)
    assert interaction.prompt_yes_no("Reduce anyway?", default=default) is expected
    hint = "[Y/n]" if default else "[y/N]"
    assert f"Reduce anyway? {hint}" in output.getvalue()


def test_console_asks_again_after_junk() -> None:
    interaction, output = console_with_input("maybe\nsure\nn\n")
    assert interaction.prompt_yes_no("Go on?", default=True) is False
    text = output.getvalue()
    assert text.count("Go on? [Y/n]") == 3
    assert "please answer yes or no (not 'maybe')" in text
    assert "(not 'sure')" in text


def test_console_closed_input_answers_no_and_points_at_yes() -> None:
    interaction, output = console_with_input("")
    assert interaction.prompt_yes_no("Go on?", default=True) is False
    assert "no answer (standard input is closed): taken as no. Run with --yes" in (
        output.getvalue())


def test_console_quiet_drops_info_but_never_warnings_or_prompts() -> None:
    interaction, output = console_with_input("y\n", quiet=True)
    interaction.display_info("info text")
    interaction.display_warning("warning text")
    assert interaction.prompt_yes_no("Asked anyway?", default=False) is True
    text = output.getvalue()
    assert "info text" not in text
    assert "warning: warning text" in text
    assert "Asked anyway?" in text


def test_console_prints_info_when_not_quiet() -> None:
    interaction, output = console_with_input("")
    interaction.display_info("shown by display_info")
    assert "shown by display_info" in output.getvalue()
    assert interaction.interactive is True


def test_messages_with_brackets_are_printed_literally() -> None:
    interaction, output = console_with_input("")
    interaction.display_warning("bad value [/red] in [bold]x[/bold]")
    interaction.display_info("[green]")
    assert "warning: bad value [/red] in [bold]x[/bold]" in output.getvalue()
    assert "[green]" in output.getvalue()


def test_non_interactive_answers_yes_and_says_so_even_when_quiet() -> None:
    console, output = plain_console()
    interaction = NonInteractive(reason="--yes", console=console, quiet=True)
    assert interaction.prompt_yes_no("Reduce 7 successful results?", default=False) is True
    assert "Reduce 7 successful results? -> yes (--yes)" in output.getvalue()
    assert interaction.interactive is False


def test_non_interactive_can_be_told_to_answer_no() -> None:
    console, output = plain_console()
    interaction = NonInteractive(answer=False, console=console)
    assert interaction.prompt_yes_no("Go on?", default=True) is False
    assert "Go on? -> no (no terminal)" in output.getvalue()


def test_scripted_answers_in_order_and_records_everything() -> None:
    scripted = ScriptedInteraction([True, False])
    scripted.display_info("starting")
    assert scripted.prompt_yes_no("first?", default=False) is True
    scripted.display_warning("careful")
    assert scripted.prompt_yes_no("second?", default=True) is False
    assert scripted.prompts == ["first?", "second?"]
    assert scripted.messages == [
        ("info", "starting"), ("prompt", "first?"), ("warning", "careful"),
        ("prompt", "second?"),
    ]
    assert scripted.interactive is True


def test_scripted_running_out_of_answers_names_the_prompt() -> None:
    scripted = ScriptedInteraction([True])
    scripted.prompt_yes_no("one?", default=True)
    with pytest.raises(AssertionError, match=r"no scripted answer left for the prompt 'two\?'"):
        scripted.prompt_yes_no("two?", default=True)


def test_scripted_answer_of_the_wrong_type_names_the_prompt() -> None:
    with pytest.raises(AssertionError, match=r"'yes' to the yes/no prompt 'ok\?'"):
        ScriptedInteraction(["yes"]).prompt_yes_no("ok?", default=True)  # type: ignore[list-item]


def test_every_implementation_satisfies_the_protocol() -> None:
    implementations: list[UserInteraction] = [
        ConsoleInteraction(input_stream=io.StringIO()), NonInteractive(), ScriptedInteraction(),
    ]
    assert [i.interactive for i in implementations] == [True, False, True]


def test_choose_interaction() -> None:
    on_terminal = choose_interaction(assume_yes=False, quiet=False, stdin_isatty=True)
    assert isinstance(on_terminal, ConsoleInteraction) and on_terminal.quiet is False
    with_yes = choose_interaction(assume_yes=True, quiet=True, stdin_isatty=True)
    assert isinstance(with_yes, NonInteractive)
    assert (with_yes.reason, with_yes.quiet, with_yes.answer) == ("--yes", True, True)
    piped = choose_interaction(assume_yes=False, quiet=False, stdin_isatty=False)
    assert isinstance(piped, NonInteractive) and piped.reason == "no terminal"


def test_choose_interaction_looks_at_the_real_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert isinstance(choose_interaction(assume_yes=False, quiet=False), NonInteractive)
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdin", closed)
    assert isinstance(choose_interaction(assume_yes=False, quiet=False), NonInteractive)


def test_an_awaited_question_lets_the_loop_run_and_a_cancel_ends_it_unanswered() -> None:
    """Ctrl-C cancels the run: a question waiting for its answer must end at once."""
    read_end, write_end = os.pipe()
    console, output = plain_console()
    with os.fdopen(read_end, "r") as answers:
        interaction = ConsoleInteraction(console=console, input_stream=answers)

        async def cancel_while_asking() -> list[str]:
            ticks: list[str] = []
            question = asyncio.create_task(interaction.ask_yes_no("Reduce?", default=True))
            for _ in range(3):  # the loop keeps running while the question waits
                await asyncio.sleep(0)
                ticks.append("tick")
            question.cancel()
            with pytest.raises(asyncio.CancelledError):
                await question
            return ticks

        assert asyncio.run(asyncio.wait_for(cancel_while_asking(), timeout=30)) == ["tick"] * 3
        os.close(write_end)
    assert output.getvalue() == "Reduce? [Y/n] "


def test_an_awaited_question_reads_the_answer_once_a_line_is_typed() -> None:
    read_end, write_end = os.pipe()
    console, output = plain_console()
    with os.fdopen(read_end, "r") as answers:
        interaction = ConsoleInteraction(console=console, input_stream=answers)

        async def answer_later() -> bool:
            question = asyncio.create_task(interaction.ask_yes_no("Go?", default=True))
            await asyncio.sleep(0)
            os.write(write_end, b"maybe\nn\n")
            return await question

        assert asyncio.run(asyncio.wait_for(answer_later(), timeout=30)) is False
        os.close(write_end)
    assert "please answer yes or no (not 'maybe')" in output.getvalue()
