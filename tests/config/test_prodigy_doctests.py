"""The usage examples in the docstrings of the Prodigy-format helpers run and hold."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from mapreduce_fsm.commands import execute, validation
from mapreduce_fsm.config import claude, envfile


@pytest.mark.parametrize("module", [envfile, claude, validation, execute])
def test_docstring_examples(module: ModuleType) -> None:
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0
    assert outcome.failed == 0


def test_env_file_quotes_comments_and_errors() -> None:
    text = 'A="x # not a comment"\nB=\'single\'\nexport C = spaced  # comment\nD=\n'
    assert envfile.parse_env_file(text, "f.env") == {
        "A": "x # not a comment", "B": "single", "C": "spaced", "D": ""}
    with pytest.raises(envfile.EnvFileError, match=r"f.env, line 2: the \" quote is not closed"):
        envfile.parse_env_file('OK=1\nBAD="open\n', "f.env")
