"""Normalising a workflow file's sections into plain data shaped like `model.Workflow`.

Shorthands are folded here: setup and reduce as lists, the old `agent_template:
{commands: [...]}`, error_policy keys at the top level, backoff as a bare kind, secrets
as plain strings, capture_outputs as a bare command index.
"""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Any

import attrs

from mapreduce_fsm.config.environment import EnvironmentReader
from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.map_timeouts import TimeoutConfigReader, apply_timeouts
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.model import (
    CaptureSpec,
    MapConfig,
    ReduceConfig,
    Workflow,
)
from mapreduce_fsm.config.policy_section import POLICY_KEYS, PolicyReader
from mapreduce_fsm.config.rules import field_rule
from mapreduce_fsm.config.steps import StepReader
from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.jsonpath import WHOLE_DOCUMENT_PATHS, compile_json_path

TOP_KEYS = ("name", "mode", "env", "secrets", "setup", "map", "reduce", "error_policy",
            "custom_phases", "profiles", "env_files", *POLICY_KEYS)
SETUP_KEYS = ("commands", "timeout", "capture_outputs")
CAPTURE_KEYS = ("command_index", "source", "pattern", "json_path", "default", "multiline")
MAP_KEYS = ("input", "json_path", "filter", "sort_by", "distinct", "offset", "max_items",
            "id_field", "max_parallel", "agent_timeout_secs", "agent_template", "timeout_config")
# keys Prodigy ignores silently under map:, and where they belong
MISPLACED_MAP_KEYS = {
    "error_policy": "error_policy belongs at the top level of the file, not under map",
    "on_item_failure": "on_item_failure belongs at the top level or under error_policy, "
                       "not under map",
}
REDUCE_KEYS = ("commands", "when", "confirm")
PHASE_KEYS = ("type", "name", "after", "before", "options")
GIT_TOP_KEYS = ("isolation", "merge")  # docs/workflow-format.md §8
MERGE_KEYS = ("commands", "timeout")
BUILTIN_PHASES = ("pending", "setup", "map", "reduce", "completed", "failed", "paused")
_PHASE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@attrs.define
class WorkflowReader:
    """Reads the whole file; `fields.issues` holds every problem found."""

    fields: FieldReader
    steps: StepReader
    base_dir: FilePath | None = None  # where env_files are found: the workflow file's folder
    profile: str | None = None  # --profile NAME

    def workflow(self, data: object) -> dict[str, Any]:
        f = self.fields
        top = f.mapping(data, (), (*TOP_KEYS, *GIT_TOP_KEYS), required=("name", "map"),
                        what="a mapping of workflow keys at the top level")
        if top is None:
            return {}
        # env first: "$VAR" numbers anywhere else are looked up in it. env_files below
        # env, the chosen profile above it.
        environment = EnvironmentReader(fields=f, steps=self.steps, base_dir=self.base_dir)
        env = environment.env_files(top["env_files"]) if top.get("env_files") is not None else {}
        env.update(self.steps.env_mapping(top.get("env"), ("env",)) or {})
        workflow: dict[str, Any] = {}
        if top.get("profiles") is not None:
            workflow["profiles"] = environment.profiles(top["profiles"], ("profiles",))
        if self.profile is not None:
            chosen = workflow.get("profiles", {}).get(self.profile)
            if chosen is None:
                names = ", ".join(workflow.get("profiles", {})) or "none"
                f.report((), f"--profile {self.profile}: the workflow has no such profile "
                         f"(profiles: {names})")
            else:
                env.update(chosen.get("env", {}))
                workflow["profile"] = self.profile
        f.env.update(env)
        workflow["env"] = env
        if "name" in top and (name := f.text(top["name"], ("name",), non_empty=True)):
            workflow["name"] = name
        if "mode" in top and top["mode"] != "mapreduce":
            f.expected(("mode",), '"mapreduce" (the only mode there is)', top["mode"])
        if "secrets" in top:
            workflow["secrets"] = environment.secrets(top["secrets"], ("secrets",))
        if top.get("setup") is not None:
            workflow["setup"] = self._setup(top["setup"], ("setup",))
        if "map" in top and (map_config := self._map(top["map"], ("map",))) is not None:
            workflow["map"] = map_config
        if top.get("reduce") is not None:
            workflow["reduce"] = self._reduce(top["reduce"], ("reduce",))
        workflow["error_policy"] = PolicyReader(fields=f).error_policy(top)
        if top.get("custom_phases") is not None:
            workflow["custom_phases"] = self._custom_phases(top["custom_phases"],
                                                            ("custom_phases",))
        self._git_keys(top, workflow)
        return workflow

    def _git_keys(self, top: dict[str, Any], workflow: dict[str, Any]) -> None:
        """`isolation:` and `merge:` (a list of steps, or `{commands, timeout}`)."""
        f = self.fields
        if "isolation" in top and (mode := f.checked(
                top["isolation"], ("isolation",), field_rule(Workflow, "isolation"))):
            workflow["isolation"] = mode
        value, path = top.get("merge"), ("merge",)
        if isinstance(value, list):
            workflow["merge"] = {"commands": self.steps.steps(value, path)}
        elif value is not None and (raw := f.mapping(
                value, path, MERGE_KEYS, what="a list of steps or {commands: [...], timeout}")):
            merge: dict[str, Any] = {
                "commands": self.steps.steps(raw.get("commands") or [], (*path, "commands"))}
            if "timeout" in raw and (timeout := f.duration(raw["timeout"], (*path, "timeout"))):
                merge["timeout"] = timeout
            workflow["merge"] = merge

    def _setup(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        if isinstance(value, list):
            return {"commands": self.steps.steps(value, path)}
        raw = f.mapping(value, path, SETUP_KEYS, what="a list of steps or {commands: [...]}")
        if raw is None:
            return None
        setup: dict[str, Any] = {}
        raw_commands = raw.get("commands") or []
        setup["commands"] = self.steps.steps(raw_commands, (*path, "commands"))
        if "timeout" in raw and (timeout := f.duration(raw["timeout"], (*path, "timeout"))):
            setup["timeout"] = timeout
        if raw.get("capture_outputs") is not None:
            count = len(raw_commands) if isinstance(raw_commands, list) else 0
            setup["capture_outputs"] = self._captures(raw["capture_outputs"],
                                                      (*path, "capture_outputs"), count)
        return setup

    def _captures(self, value: object, path: Path, step_count: int) -> dict[str, Any]:
        f = self.fields
        if not isinstance(value, dict):
            f.expected(path, "a mapping of names to command indexes", value)
            return {}
        captures: dict[str, Any] = {}
        for name, spec in value.items():
            where = (*path, name)
            if self.steps.capture_name(name, where, at_key=True) is None:
                continue
            raw = {"command_index": spec} if not isinstance(spec, dict) else f.mapping(
                spec, where, CAPTURE_KEYS, required=("command_index",))
            assert raw is not None
            index_path = where if not isinstance(spec, dict) else (*where, "command_index")
            capture = self._capture(raw, where)
            if "command_index" in raw:
                index = f.whole(raw["command_index"], index_path,
                                field_rule(CaptureSpec, "command_index"))
                if index is not None and index >= step_count:
                    f.report(index_path, f"command index {index} is out of range: setup has "
                             f"{step_count} step{'s' if step_count != 1 else ''}"
                             + (f" (0 to {step_count - 1})" if step_count else ""))
                elif index is not None and capture is not None:
                    captures[name] = {**capture, "command_index": index}
        return captures

    def _capture(self, raw: dict[str, Any], path: Path) -> dict[str, Any] | None:
        f = self.fields
        capture: dict[str, Any] = {}
        ok = True
        for key in ("source", "multiline"):
            if key in raw:
                capture[key] = f.checked(raw[key], (*path, key), field_rule(CaptureSpec, key))
                ok = ok and capture[key] is not None
        for key in ("json_path", "pattern"):
            if key in raw:
                capture[key] = f.text(raw[key], (*path, key), non_empty=True)
                ok = ok and capture[key] is not None
        if isinstance(capture.get("pattern"), str):
            try:
                re.compile(capture["pattern"])
            except re.error as error:
                f.report((*path, "pattern"), f"not a valid regular expression: {error}")
                ok = False
        if capture.get("json_path") not in (None, *WHOLE_DOCUMENT_PATHS):
            try:
                compile_json_path(capture["json_path"])
            except ExpressionError as error:
                f.report((*path, "json_path"), error.located_reason)
                ok = False
        if "default" in raw:
            capture["default"] = f.scalar_text(raw["default"], (*path, "default"))
            ok = ok and capture["default"] is not None
        return capture if ok else None

    def _map(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        if isinstance(value, dict):
            for key, hint in MISPLACED_MAP_KEYS.items():
                if key in value:
                    f.report((*path, key), hint + " (Prodigy ignores it there silently)",
                             at_key=True)
            value = {key: item for key, item in value.items() if key not in MISPLACED_MAP_KEYS}
        raw = f.mapping(value, path, MAP_KEYS, required=("input", "agent_template"))
        if raw is None:
            return None
        config: dict[str, Any] = {}
        for key in ("input", "json_path", "filter", "sort_by", "distinct", "id_field"):
            if raw.get(key) is not None or (key == "input" and key in raw):
                config[key] = f.text(raw[key], (*path, key), non_empty=True)
        for key in ("offset", "max_items", "max_parallel"):
            if raw.get(key) is not None:
                config[key] = f.whole(raw[key], (*path, key), field_rule(MapConfig, key))
        if raw.get("agent_timeout_secs") is not None:
            config["agent_timeout_secs"] = f.duration(raw["agent_timeout_secs"],
                                                      (*path, "agent_timeout_secs"))
        if "agent_template" in raw:
            config["agent_template"] = self._template(raw["agent_template"],
                                                      (*path, "agent_template"))
        if raw.get("timeout_config") is not None:
            TimeoutConfigReader(fields=f).read(raw["timeout_config"],
                                               (*path, "timeout_config"), config)
            apply_timeouts(config)
        return {key: item for key, item in config.items() if item is not None}

    def _template(self, value: object, path: Path) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            raw = self.fields.mapping(value, path, ("commands",), required=("commands",),
                                      what="a list of steps")
            if not raw or "commands" not in raw:
                return []
            value, path = raw["commands"], (*path, "commands")
        if isinstance(value, list) and not value:
            self.fields.report(path, "needs at least one step")
        return self.steps.steps(value, path)

    def _reduce(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        if isinstance(value, list):
            return {"commands": self.steps.steps(value, path)}
        raw = f.mapping(value, path, REDUCE_KEYS, what="a list of steps or {commands: [...]}")
        if raw is None:
            return None
        reduce: dict[str, Any] = {
            "commands": self.steps.steps(raw.get("commands") or [], (*path, "commands"))}
        if "when" in raw and (when := f.text(raw["when"], (*path, "when"), non_empty=True)):
            reduce["when"] = when
        if "confirm" in raw and (confirm := f.checked(raw["confirm"], (*path, "confirm"),
                                                      field_rule(ReduceConfig, "confirm"))):
            reduce["confirm"] = confirm
        return reduce

    def _custom_phases(self, value: object, path: Path) -> list[dict[str, Any]]:
        f = self.fields
        entries = f.items_of(value, path, "a list of {type, name, after, before, options}")
        phases: list[dict[str, Any]] = []
        name_paths: list[Path] = []
        for index, entry in enumerate(entries or []):
            where = (*path, index)
            raw = f.mapping(entry, where, PHASE_KEYS, required=("type",))
            if raw is None or "type" not in raw:
                continue
            phase: dict[str, Any] = {}
            for key in ("type", "name", "after", "before"):
                if key == "type" or raw.get(key) is not None:  # type: null is an error
                    phase[key] = f.text(raw[key], (*where, key), non_empty=True)
            if raw.get("options") is not None:
                phase["options"] = raw["options"]
                if not isinstance(raw["options"], dict):
                    f.expected((*where, "options"), "a mapping", raw["options"])
                    phase["options"] = None
            if any(item is None for item in phase.values()):
                continue
            name_paths.append((*where, "name" if "name" in phase else "type"))
            phase.setdefault("name", phase["type"])
            phases.append(phase)
        self._check_phase_order(phases, name_paths)
        return phases

    def _check_phase_order(self, phases: list[dict[str, Any]], name_paths: list[Path]) -> None:
        f = self.fields
        names = [phase["name"] for phase in phases]
        known = ("setup", "map", "reduce", *names)
        for index, (phase, name_path) in enumerate(zip(phases, name_paths, strict=True)):
            name, where = phase["name"], name_path[:-1]
            if _PHASE_NAME.match(name) is None:
                f.report(name_path, f"phase name {show_value(name)} must be lowercase letters, "
                         "digits and _, starting with a letter (set name: to choose one)")
            elif name in BUILTIN_PHASES:
                f.report(name_path, f"phase name {show_value(name)} is taken by a built-in "
                         "state; set name: to choose another")
            elif names.index(name) != index:
                f.report(name_path, f"phase name {show_value(name)} is used twice; names must "
                         "be unique")
            if "after" in phase and "before" in phase:
                f.report(where, "set after or before, not both")
            for key in ("after", "before"):
                target = phase.get(key)
                if target is not None and (target not in known or target == name):
                    others = ", ".join(other for other in known if other != name)
                    f.report((*where, key), f"no phase named {show_value(target)}; "
                             f"phases: {others}")

