"""The usage examples in the policy modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from mapreduce_fsm.policy import backoff, budget, circuit, signature


@pytest.mark.parametrize("module", [backoff, budget, circuit, signature])
def test_docstring_examples(module: ModuleType) -> None:
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0
    assert outcome.failed == 0
