"""The phase registry: built-in phases, custom phase types, and the phase list of a workflow.

A custom phase type is a class with `from_config(workflow, config) -> PhaseExecutor`.
It is found by the name it was registered under (`@register_phase("verify")`), by an
entry point in the group `mapreduce_fsm.phases`, or by an import path `"pkg.mod:Class"`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import attrs

from mapreduce_fsm.backends.base import BackendFactory
from mapreduce_fsm.config.model import CustomPhaseConfig, Workflow
from mapreduce_fsm.errors import ConfigIssue, WorkflowFileError
from mapreduce_fsm.phases.map import MapPhase
from mapreduce_fsm.phases.reduce import ReducePhase
from mapreduce_fsm.phases.setup import SetupPhase
from mapreduce_fsm.phases.types import PhaseExecutor

ENTRY_POINT_GROUP = "mapreduce_fsm.phases"


class PhaseType(Protocol):
    @classmethod
    def from_config(cls, workflow: Workflow, config: CustomPhaseConfig) -> PhaseExecutor: ...


_REGISTRY: dict[str, Any] = {}
# Types shipped with the package, imported only when a workflow asks for them.
_BUNDLED = {"verify": "mapreduce_fsm.examples.verify:VerifyPhase"}

T = TypeVar("T")


def register_phase(type_name: str) -> Callable[[T], T]:
    """Class decorator: make a phase class usable as `custom_phases: [{type: NAME}]`."""

    def decorate(cls: T) -> T:
        _REGISTRY[type_name] = cls
        return cls

    return decorate


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def phase_type(type_name: str) -> PhaseType:
    """The class registered under `type_name` (or named by `"pkg.mod:Class"`)."""
    if type_name in _REGISTRY:
        return _REGISTRY[type_name]  # type: ignore[no-any-return]
    if type_name in _BUNDLED:
        _import(_BUNDLED[type_name])  # registers itself on import
        return _REGISTRY[type_name]  # type: ignore[no-any-return]
    from importlib.metadata import entry_points  # slow to import; only needed from here on

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == type_name:
            _REGISTRY[type_name] = entry.load()
            return _REGISTRY[type_name]  # type: ignore[no-any-return]
    if ":" in type_name:
        try:
            return _import(type_name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as error:
            raise LookupError(f"cannot import phase type {type_name!r}: {error}") from None
    plugins = (entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))
    known = sorted({*_REGISTRY, *_BUNDLED, *plugins})
    hint = difflib.get_close_matches(type_name, known, n=1)
    suggestion = f"; did you mean {hint[0]}?" if hint else ""
    raise LookupError(
        f"unknown phase type {type_name!r}{suggestion} (known: {', '.join(known) or 'none'}; "
        "or give an import path such as 'mypackage.phases:MyPhase')"
    )


def build_phases(
    workflow: Workflow, *, backend: BackendFactory | None = None
) -> list[PhaseExecutor]:
    """setup, map, reduce, with each custom phase inserted where its `after`/`before` says.

    The map runs its items on `backend` (default: this machine).
    """
    map_phase = MapPhase(config=workflow.map, policy=workflow.error_policy)
    if backend is not None:
        map_phase = attrs.evolve(map_phase, backend_factory=backend)
    phases: list[PhaseExecutor] = [
        SetupPhase(config=workflow.setup),
        map_phase,
        ReducePhase(config=workflow.reduce),
    ]
    issues = []
    for index, custom in enumerate(workflow.custom_phases):
        try:
            executor = phase_type(custom.type).from_config(workflow, custom)
        except (LookupError, ValueError) as error:
            issues.append(ConfigIssue(file=workflow.source_path or "<workflow>", line=None,
                                      path=f"custom_phases[{index}].type", message=str(error)))
            continue
        names = [phase.name for phase in phases]
        if custom.before is not None:
            position = names.index(custom.before)
        elif custom.after is not None:
            position = names.index(custom.after) + 1
        else:
            position = len(phases)
        phases.insert(position, executor)
    if issues:
        raise WorkflowFileError(issues)
    return phases
