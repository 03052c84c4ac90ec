"""The phase registry: built-in phases, custom phase types, and the phase list of a workflow.

A custom phase type is a class with `from_config(workflow, config) -> PhaseExecutor`.
It is found by the name it was registered under (`@register_phase("verify")`), by an
entry point in the group `mapreduce_fsm.phases`, or by an import path `"pkg.mod:Class"`.
Only an absolute path of that form is imported (a bare unknown name never is), and what it
names must be a class with `from_config`; anything else is a LookupError, not a crash.
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
from mapreduce_fsm.git.plan import workflow_wants_isolation
from mapreduce_fsm.phases.map import MapPhase
from mapreduce_fsm.phases.merge import MergePhase
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
    """The object an absolute `package.module:ClassName` path names, imported only when the
    path has that form: a relative or malformed path must not run any module's code."""
    module_name, _, attribute = path.partition(":")
    if not (all(part.isidentifier() for part in module_name.split("."))
            and attribute.isidentifier()):
        raise LookupError(f"{path!r} is not an import path: write it as "
                          "'package.module:ClassName' (absolute, no spaces)")
    return _loaded(path, lambda: getattr(importlib.import_module(module_name), attribute))


def _loaded(path: str, load: Callable[[], Any]) -> Any:
    """`load()`, with any failure of the named module as a LookupError naming `path`."""
    try:
        return load()
    except (ImportError, AttributeError) as error:
        reason = str(error)
    except Exception as error:  # the user's module failed as it was imported
        reason = f"{type(error).__name__}: {error}"
    raise LookupError(f"cannot import phase type {path!r}: {reason}")


def phase_type(type_name: str) -> PhaseType:
    """The class registered under `type_name` (or named by `"pkg.mod:Class"`)."""
    found = _find_phase_type(type_name)
    if not (isinstance(found, type) and callable(getattr(found, "from_config", None))):
        what = (f"class {found.__name__}, which has no from_config classmethod"
                if isinstance(found, type) else f"a {type(found).__name__}")
        raise LookupError(f"phase type {type_name!r} names {what}; a phase type is a class "
                          "with a from_config classmethod")
    return found  # type: ignore[return-value]


def _find_phase_type(type_name: str) -> object:
    if type_name in _REGISTRY:
        return _REGISTRY[type_name]
    if type_name in _BUNDLED:
        _import(_BUNDLED[type_name])  # registers itself on import
        return _REGISTRY[type_name]
    from importlib.metadata import entry_points  # slow to import; only needed from here on

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == type_name:
            _REGISTRY[type_name] = _loaded(entry.value, entry.load)
            return _REGISTRY[type_name]
    if ":" in type_name:
        return _import(type_name)
    plugins = (entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))
    known = sorted({*_REGISTRY, *_BUNDLED, *plugins})
    hint = difflib.get_close_matches(type_name, known, n=1)
    suggestion = f"; did you mean {hint[0]}?" if hint else ""
    raise LookupError(
        f"unknown phase type {type_name!r}{suggestion} (known: {', '.join(known) or 'none'}; "
        "or give an import path such as 'mypackage.phases:MyPhase')"
    )


def build_phases(
    workflow: Workflow, *, isolated: bool | None = None, backend: BackendFactory | None = None
) -> list[PhaseExecutor]:
    """setup, map, reduce, with each custom phase inserted where its `after`/`before` says.

    With worktree isolation the built-in merge phase follows reduce. `isolated=None`
    (a diagram or a check of the file) means: as `auto` would decide in a git work tree.
    The map runs its items on `backend` (default: this machine).
    """
    if isolated is None:
        isolated = workflow.isolation == "worktree" or (
            workflow.isolation == "auto" and workflow_wants_isolation(workflow) is not None)
    map_phase = MapPhase(config=workflow.map, policy=workflow.error_policy)
    if backend is not None:
        map_phase = attrs.evolve(map_phase, backend_factory=backend)
    phases: list[PhaseExecutor] = [
        SetupPhase(config=workflow.setup),
        map_phase,
        ReducePhase(config=workflow.reduce),
    ]
    if isolated:
        phases.append(MergePhase(config=workflow.merge))
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
