"""Checks that need no step to run: `${...}` references, expressions, the claude program."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from mapreduce_fsm.config.claude import claude_problem
from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path
from mapreduce_fsm.config.steps import StepOrigin
from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.filter import compile_expression, compile_sort
from mapreduce_fsm.expressions.interpolate import (
    KNOWN_NAMESPACES,
    Reference,
    find_references,
    format_path,
)
from mapreduce_fsm.expressions.jsonpath import WHOLE_DOCUMENT_PATHS, compile_json_path
from mapreduce_fsm.expressions.paths import compile_path

MAP_VARIABLES = ("total", "successful", "failed", "skipped", "success_rate", "results",
                 "results_file", "total_duration_secs", "average_duration_secs")
ERROR_VARIABLES = ("message", "exit_code", "step")
# What git.merge_back.merge_variables gives a `merge:` block's steps.
MERGE_VARIABLES = ("worktree", "source_branch", "target_branch", "session_id", "commits",
                   "commit_count", "commit_ids", "modified_files", "file_count", "file_list")
FIXED_VARIABLES = {"workflow": ("name",), "job": ("id",), "shell": ("output", "stderr"),
                   "last": ("exit_code",)}
# Where a template is interpolated: a phase, or map.input before any item exists.
MAP_INPUT = "map.input"
ITEM_VARIABLES = ("item_index", "item_total", "item_id", "item_json")
SIMILAR_NAME_CUTOFF = 0.75  # difflib ratio from which a name is taken for a typo of another


@attrs.frozen(kw_only=True)
class Scope:
    """What a template can refer to: its phase, and whether it runs inside on_failure."""

    phase: str  # "setup", "map", "reduce", "merge" or MAP_INPUT
    in_handler: bool = False
    before_any_step: bool = False  # no step of the phase has run: no shell.* or last.*
    captures: frozenset[str] = frozenset()  # capture names set before this point


@attrs.define
class ReferenceChecker:
    """Walks normalised workflow data and reports what would fail at run time."""

    fields: FieldReader
    origins: Mapping[int, StepOrigin]
    environ: Mapping[str, str]
    env_names: tuple[str, ...] = ()
    _claude_problem: str | None = None
    # Every capture name of the workflow: the phase and the step (or section) that sets it.
    _captured_where: dict[str, tuple[str, Path]] = attrs.field(factory=dict)
    _setup_captures: frozenset[str] = frozenset()

    def check(self, workflow: Mapping[str, Any]) -> None:
        self.env_names = (*workflow.get("env", {}), *workflow.get("secrets", {}))
        self._claude_problem = claude_problem(self.environ)
        setup = workflow.get("setup") or {}
        map_config = workflow.get("map") or {}
        reduce = workflow.get("reduce") or {}
        merge = workflow.get("merge") or {}
        for phase, steps in (("setup", setup.get("commands", [])),
                             ("map", map_config.get("agent_template", [])),
                             ("reduce", reduce.get("commands", []))):
            for step in steps:
                name = _capture_name(step)
                if name is not None:
                    self._captured_where.setdefault(name, (phase, self.origins[id(step)].path))
        named = {name: ("setup", ("setup", "capture_outputs", name))
                 for name in setup.get("capture_outputs") or {} if isinstance(name, str)}
        self._captured_where.update(named)
        self._setup_captures = frozenset(
            name for name, (phase, _) in self._captured_where.items() if phase == "setup")
        self._steps(setup.get("commands", []), "setup")
        if isinstance(map_config.get("input"), str):
            self._template(map_config["input"], ("map", "input"),
                           Scope(phase=MAP_INPUT, captures=self._setup_captures))
        json_path = map_config.get("json_path")
        if json_path not in WHOLE_DOCUMENT_PATHS:
            self._expression(json_path, ("map", "json_path"), compile_json_path)
        self._expression(map_config.get("filter"), ("map", "filter"), compile_expression)
        self._expression(map_config.get("sort_by"), ("map", "sort_by"), compile_sort)
        for key in ("distinct", "id_field"):  # field paths
            self._expression(map_config.get(key), ("map", key), compile_path)
        self._steps(map_config.get("agent_template", []), "map")
        self._steps(reduce.get("commands", []), "reduce")
        if isinstance(reduce.get("when"), str):
            self._when(reduce["when"], ("reduce", "when"),
                       Scope(phase="reduce", before_any_step=True,
                             captures=self._setup_captures))
        self._steps(merge.get("commands", []), "merge")

    def _steps(self, steps: list[Mapping[str, Any]], phase: str) -> None:
        # setup.capture_outputs are set when setup ends; a step's own capture, after it.
        captures = frozenset() if phase == "setup" else self._setup_captures
        for index, step in enumerate(steps):
            self._step(step, Scope(phase=phase, before_any_step=index == 0, captures=captures))
            captures |= _set_by(step)

    def _step(self, step: Mapping[str, Any], scope: Scope) -> None:
        origin = self.origins[id(step)]
        for kind in ("shell", "claude", "working_dir"):
            if isinstance(step.get(kind), str):
                self._template(step[kind], origin.field_path(kind), scope)
        if "claude" in step and self._claude_problem is not None:
            self.fields.report(origin.path, self._claude_problem)
        spec = step.get("write_file") or {}
        if isinstance(spec.get("path"), str):
            self._template(spec["path"], (*origin.path, "write_file", "path"), scope)
        for text in _strings_in(spec.get("content")):
            self._template(text, (*origin.path, "write_file", "content"), scope)
        for name, value in (step.get("env") or {}).items():
            self._template(value, (*origin.path, "env", name), scope)
        if isinstance(step.get("when"), str):
            self._when(step["when"], (*origin.path, "when"), scope)
        after_it = Scope(phase=scope.phase,  # the step itself has run by then
                         captures=scope.captures | _set_by(step))
        for handler in (step.get("on_failure") or {}).get("handlers", []):
            self._step(handler, attrs.evolve(after_it, in_handler=True))
        if step.get("on_success") is not None:
            self._step(step["on_success"], after_it)
        validation = step.get("validate") or {}
        for check in validation.get("commands", []):
            self._step(check, after_it)
        # ${validation.*} holds the last validation's result while on_incomplete runs.
        scored = attrs.evolve(after_it, captures=after_it.captures | {"validation"})
        for repair in (validation.get("on_incomplete") or {}).get("commands", []):
            self._step(repair, scored)

    def _template(self, text: str, path: Path, scope: Scope) -> None:
        for reference in find_references(text):
            if reference.default is not None:
                continue
            if reference.root == "merge":  # the merge phase's own namespace
                problem = _merge_problem(reference, scope)
            elif reference.root in KNOWN_NAMESPACES:
                problem = self._problem(reference, scope)
            else:
                problem = self._name_problem(reference, scope)
            if problem is not None:
                self.fields.report(path, f"{reference.text} {problem}")

    def _name_problem(self, reference: Reference, scope: Scope) -> str | None:
        """A root that is no namespace: a variable, a capture, or else left to the shell.

        The shell's own `${HOME}` or `${arr[0]}` is fine, but not `${name.field}` (the
        shell's "Bad substitution"), a capture used before the step that sets it, or a
        name that looks like a typo of a variable set by then.
        """
        root = reference.root
        known = {*self.env_names, *scope.captures,
                 *(ITEM_VARIABLES if scope.phase == "map" else ())}
        if root in known:
            return None
        if root in self._captured_where:
            phase, where = self._captured_where[root]
            if phase == "map" and scope.phase != "map":
                return ("is not a variable here; a map step's captures stay with its item "
                        "(see ${map.results})")
            if phase == scope.phase or phase == "setup":
                return (f"is captured by a later step ({format_path(where)}); "
                        "a step sees only what earlier steps captured")
            return f"is not a variable here: it is captured in {phase} ({format_path(where)})"
        dotted = len(reference.path) > 1 and isinstance(reference.path[1], str)
        if dotted:
            close = difflib.get_close_matches(root, [*KNOWN_NAMESPACES, *known], n=1,
                                              cutoff=SIMILAR_NAME_CUTOFF)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"is not a variable ({root} is unknown{hint})"
        close = difflib.get_close_matches(root, sorted(known), n=1, cutoff=SIMILAR_NAME_CUTOFF)
        if close:
            return (f"is not a variable here; did you mean ${{{close[0]}}}? (a shell "
                    f"variable is written ${root}, without braces)")
        return None

    def _problem(self, reference: Reference, scope: Scope) -> str | None:
        root, path = reference.root, reference.path
        field = path[1] if len(path) > 1 else None
        where = f"is not available in {scope.phase}"
        match root:
            case "item":
                return None if scope.phase == "map" else (
                    f"{where} (the item variables exist in map.agent_template only)")
            case "map":
                if scope.phase != "reduce":
                    return f"{where} (the map.* variables exist in reduce only)"
                return _field_problem("map", field, MAP_VARIABLES)
            case "error":
                if not scope.in_handler:
                    return f"{where} (error.* is only set inside on_failure)"
                return _field_problem("error", field, ERROR_VARIABLES)
            case "env":
                return _field_problem("env", field, self.env_names)
            case "setup":
                return ("is not a variable: setup captures are used by their name alone, "
                        "as ${NAME}")
            case "shell" | "last" if scope.phase == MAP_INPUT:
                return f"{where} (it runs before any step: use env, secrets, workflow.name, " \
                       "job.id and setup captures)"
            case "shell" | "last" if scope.before_any_step:
                return (f"is not available before the first step of {scope.phase} has run "
                        f"({root}.* is set by the step before)")
        return _field_problem(root, field, FIXED_VARIABLES[root])

    def _when(self, text: str, path: Path, scope: Scope) -> None:
        self._template(text, path, scope)
        self._expression(_without_references(text), path, compile_expression)

    def _expression(self, text: object, path: Path, compile_text: Callable[[str], Any]) -> None:
        if not isinstance(text, str):
            return
        try:
            compile_text(text)
        except ExpressionError as error:
            self.fields.report(path, error.located_reason)


def _set_by(step: Mapping[str, Any]) -> frozenset[str]:
    """The variables a step sets for the steps after it: its capture, `${claude.output}`."""
    name = _capture_name(step)
    return frozenset({*([name] if name else []), *(["claude"] if "claude" in step else [])})


def _capture_name(step: Mapping[str, Any]) -> str | None:
    """The variable a step captures its output into, if it names one."""
    for key in ("capture_output", "capture"):
        name = step.get(key)
        if isinstance(name, str) and name:
            return name
    return None


def _merge_problem(reference: Reference, scope: Scope) -> str | None:
    if scope.phase != "merge":
        return (f"is not available in {scope.phase} (the merge.* variables exist in merge "
                "steps only)")
    field = reference.path[1] if len(reference.path) > 1 else None
    return _field_problem("merge", field, MERGE_VARIABLES)


def _field_problem(root: str, field: str | int | None, available: tuple[str, ...]) -> str | None:
    if field is None or field in available:
        return None
    names = ", ".join(f"{root}.{name}" for name in available) or "none"
    article = "an" if root[0] in "aeiou" else "a"
    close = difflib.get_close_matches(str(field), available, n=1, cutoff=SIMILAR_NAME_CUTOFF)
    if close:
        return (f"is not {article} {root} variable; did you mean ${{{root}.{close[0]}}}? "
                f"(available: {names})")
    return f"is not {article} {root} variable; available: {names}"


def _strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_in(key)
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _without_references(text: str) -> str:
    """`text` with each outermost `${...}` reference blanked to a literal of the same width."""
    result, covered = text, 0
    for reference in find_references(text):
        if reference.start < covered:
            continue
        width = len(reference.text)
        covered = reference.start + width
        result = result[: reference.start] + "0" + " " * (width - 1) + result[covered:]
    return result
