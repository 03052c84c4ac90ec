"""Every `>>>` example in the package's docstrings runs as a doctest and shows what it claims."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import mapreduce_fsm

# Modules that import an optional extra; skipped only when that extra is not installed.
_EXTRA_MODULES = {"mapreduce_fsm.backends.dask": "distributed"}


def _package_modules() -> Iterator[str]:
    yield mapreduce_fsm.__name__
    for info in pkgutil.walk_packages(mapreduce_fsm.__path__, "mapreduce_fsm."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        yield info.name


def _source_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin)


def _example_lines(name: str) -> int:
    """How many `>>>` prompts the module's source holds (what doctest must attempt)."""
    text = _source_path(name).read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines() if line.lstrip().startswith(">>> "))


MODULES_WITH_EXAMPLES = [name for name in _package_modules() if _example_lines(name)]


def test_the_walk_finds_the_modules_known_to_have_examples() -> None:
    known = {"mapreduce_fsm", "mapreduce_fsm.policy.backoff", "mapreduce_fsm.policy.budget",
             "mapreduce_fsm.policy.circuit", "mapreduce_fsm.policy.signature",
             "mapreduce_fsm.jobs.run", "mapreduce_fsm.commands.runner"}
    assert known <= set(MODULES_WITH_EXAMPLES)


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_docstring_examples(name: str, tmp_path: Path) -> None:
    extra = _EXTRA_MODULES.get(name)
    if extra is not None and importlib.util.find_spec(extra) is None:
        pytest.skip(f"{name} needs the optional extra {extra!r}")
    module = importlib.import_module(name)
    before = Path.cwd()
    # An example that writes before it makes its own directory writes here, not in the repo.
    os.chdir(tmp_path)
    try:
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    finally:
        os.chdir(before)
    assert outcome.failed == 0, f"{outcome.failed} example(s) of {name} failed"
    # Every prompt in the file ran: none skipped, none in a docstring doctest cannot find.
    assert outcome.attempted == _example_lines(name), inspect.getsourcefile(module)
