"""A custom phase `type` as an import path: checked before import; it must name a phase class."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.errors import WorkflowFileError
from mapreduce_fsm.phases.registry import build_phases, register_phase

WORKFLOW = ("name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n"
            "custom_phases:\n  - name: extra\n    type: {type}\n")
PHASE_MODULE = '''
from pathlib import Path

Path(__file__).with_name("imported").write_text("yes")


class Phase:
    name = "extra"

    @classmethod
    def from_config(cls, workflow, config):
        phase = cls()
        phase.name = config.name
        return phase
'''


def phase_error(type_text: str) -> str:
    workflow = load_workflow_text(WORKFLOW.format(type=type_text), filename="wf.yml",
                                  environ={})
    with pytest.raises(WorkflowFileError) as caught:
        build_phases(workflow)
    return str(caught.value)


@pytest.fixture
def phase_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> str:
    """A module on sys.path, named for the test, that leaves a file `imported` when imported."""
    name = f"user_phases_{len(str(tmp_path))}_{abs(hash(request.node.nodeid))}"
    (tmp_path / f"{name}.py").write_text(PHASE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


@pytest.mark.parametrize("type_text", ['".mod:Cls"', '"this:"', '"this: Zen"', '":Phase"',
                                       '"os..path:join"', '"os:path.join"', '"a b:C"',
                                       '"os:2x"'])
def test_a_malformed_import_path_is_refused_without_importing(type_text: str) -> None:
    shown = type_text.strip('"')
    assert phase_error(type_text) == (
        f"wf.yml custom_phases[0].type: {shown!r} is not an import path: write it as "
        "'package.module:ClassName' (absolute, no spaces)")


@pytest.mark.parametrize(("type_text", "what"), [
    ("os:system", "names a builtin_function_or_method"),
    ("os.path:join", "names a function"),
    ("os:path", "names a module"),
    ("json:JSONDecoder", "names class JSONDecoder, which has no from_config classmethod"),
])
def test_an_import_path_to_something_that_is_no_phase_class_is_refused(
    type_text: str, what: str,
) -> None:
    assert phase_error(type_text) == (
        f"wf.yml custom_phases[0].type: phase type {type_text!r} {what}; a phase type is a "
        "class with a from_config classmethod")


@pytest.mark.parametrize(("type_text", "reason"), [
    ("mapreduce_fsm.no_such_module:Phase", "No module named 'mapreduce_fsm.no_such_module'"),
    ("json:NoSuchPhase", "module 'json' has no attribute 'NoSuchPhase'"),
])
def test_an_import_path_that_does_not_import_names_the_reason(type_text: str,
                                                             reason: str) -> None:
    assert phase_error(type_text) == (
        f"wf.yml custom_phases[0].type: cannot import phase type {type_text!r}: {reason}")


def test_a_module_that_fails_on_import_is_a_workflow_error(phase_module: str,
                                                           tmp_path: Path) -> None:
    (tmp_path / f"{phase_module}.py").write_text("raise RuntimeError('no database')\n")
    assert phase_error(f"{phase_module}:Phase") == (
        f"wf.yml custom_phases[0].type: cannot import phase type '{phase_module}:Phase': "
        "RuntimeError: no database")


def test_a_users_phase_class_is_imported_by_its_path(phase_module: str, tmp_path: Path) -> None:
    workflow = load_workflow_text(WORKFLOW.format(type=f"{phase_module}:Phase"),
                                  filename="wf.yml", environ={})
    phases = build_phases(workflow)
    assert [phase.name for phase in phases] == ["setup", "map", "reduce", "extra"]
    assert type(phases[-1]).__module__ == phase_module
    assert (tmp_path / "imported").exists()


@pytest.mark.parametrize("suffix", ["", ":", ": Phase", ":Phase()"])
def test_a_module_named_by_a_bare_or_malformed_type_is_not_imported(
    phase_module: str, tmp_path: Path, suffix: str,
) -> None:
    message = phase_error(f'"{phase_module}{suffix}"')
    assert message.startswith("wf.yml custom_phases[0].type: ")
    assert not (tmp_path / "imported").exists()
    assert phase_module not in sys.modules


def test_a_registered_object_that_is_no_phase_class_is_refused() -> None:
    def not_a_class() -> None:
        """Registered by mistake: a function, not a phase class."""

    register_phase("test-not-a-class")(not_a_class)
    assert phase_error("test-not-a-class") == (
        "wf.yml custom_phases[0].type: phase type 'test-not-a-class' names a function; a "
        "phase type is a class with a from_config classmethod")
