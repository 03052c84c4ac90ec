"""Normalising a workflow file's sections into plain data shaped like `model.Workflow`.

Shorthands are folded here: setup and reduce as lists, the old `agent_template:
{commands: [...]}`, error_policy keys at the top level, backoff as a bare kind, secrets
as plain strings, capture_outputs as a bare command index.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.model import (
    Backoff,
    CaptureSpec,
    CircuitBreakerConfig,
    ErrorPolicy,
    MapConfig,
    ReduceConfig,
    RetryConfig,
    Workflow,
)
from mapreduce_fsm.config.rules import field_rule
from mapreduce_fsm.config.steps import StepReader
from mapreduce_fsm.errors import ExpressionError
from mapreduce_fsm.expressions.jsonpath import WHOLE_DOCUMENT_PATHS, compile_json_path

POLICY_KEYS = ("on_item_failure", "continue_on_failure", "max_failures", "failure_threshold",
               "retry_config", "circuit_breaker")
TOP_KEYS = ("name", "mode", "env", "secrets", "setup", "map", "reduce", "error_policy",
            "custom_phases", *POLICY_KEYS)
SETUP_KEYS = ("commands", "timeout", "capture_outputs")
CAPTURE_KEYS = ("command_index", "source", "pattern", "json_path", "default", "multiline")
MAP_KEYS = ("input", "json_path", "filter", "sort_by", "distinct", "offset", "max_items",
            "id_field", "max_parallel", "agent_timeout_secs", "agent_template")
REDUCE_KEYS = ("commands", "when", "confirm")
RETRY_KEYS = ("max_attempts", "backoff", "max_delay", "jitter")
BACKOFF_KEYS = {
    "exponential": ("initial", "multiplier"),
    "linear": ("initial", "increment"),
    "fixed": ("delay", "initial"),
    "fibonacci": ("initial",),
}
BREAKER_KEYS = ("failure_threshold", "success_threshold", "timeout", "half_open_requests")
PHASE_KEYS = ("type", "name", "after", "before", "options")
GIT_TOP_KEYS = ("isolation", "merge")  # WORKFLOW_FORMAT.md section 8
MERGE_KEYS = ("commands", "timeout")
BUILTIN_PHASES = ("pending", "setup", "map", "reduce", "completed", "failed", "paused")
_PHASE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@attrs.define
class WorkflowReader:
    """Reads the whole file; `fields.issues` holds every problem found."""

    fields: FieldReader
    steps: StepReader

    def workflow(self, data: object) -> dict[str, Any]:
        f = self.fields
        top = f.mapping(data, (), (*TOP_KEYS, *GIT_TOP_KEYS), required=("name", "map"),
                        what="a mapping of workflow keys at the top level")
        if top is None:
            return {}
        # env first: "$VAR" numbers anywhere else are looked up in it.
        env = self.steps.env_mapping(top.get("env"), ("env",)) or {}
        f.env.update(env)
        workflow: dict[str, Any] = {"env": env}
        if "name" in top and (name := f.text(top["name"], ("name",), non_empty=True)):
            workflow["name"] = name
        if "mode" in top and top["mode"] != "mapreduce":
            f.expected(("mode",), '"mapreduce" (the only mode there is)', top["mode"])
        if "secrets" in top:
            workflow["secrets"] = self._secrets(top["secrets"], ("secrets",))
        if top.get("setup") is not None:
            workflow["setup"] = self._setup(top["setup"], ("setup",))
        if "map" in top and (map_config := self._map(top["map"], ("map",))) is not None:
            workflow["map"] = map_config
        if top.get("reduce") is not None:
            workflow["reduce"] = self._reduce(top["reduce"], ("reduce",))
        workflow["error_policy"] = self._error_policy(top)
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

    def _secrets(self, value: object, path: Path) -> dict[str, Any]:
        f = self.fields
        raw = value if value is not None else {}
        if not isinstance(raw, dict):
            f.expected(path, "a mapping of names to {env: NAME} or values", value)
            return {}
        secrets: dict[str, Any] = {}
        for name, spec in raw.items():
            where = (*path, name)
            if f.identifier(name, where, "a secret name") is None:
                continue
            if isinstance(spec, str):
                secrets[name] = {"value": spec}
            elif isinstance(spec, dict):
                source = f.mapping(spec, where, ("env",), required=("env",))
                if source and (variable := f.identifier(source["env"], (*where, "env"),
                                                        "an environment variable name")):
                    secrets[name] = {"env": variable}
            else:
                f.expected(where, "{env: NAME} or a string", spec)
        return secrets

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

    def _error_policy(self, top: dict[str, Any]) -> dict[str, Any]:
        f = self.fields
        nested = f.mapping(top["error_policy"], ("error_policy",), POLICY_KEYS) if top.get(
            "error_policy") is not None else {}
        policy: dict[str, Any] = {}
        for key in POLICY_KEYS:
            if key in top and nested and key in nested:
                f.report((key,), "also set in error_policy; set it in one place only",
                         at_key=True)
                continue
            path: Path = (key,) if key in top else ("error_policy", key)
            source = top if key in top else nested or {}
            if source.get(key) is None:
                continue
            converted = self._policy_value(key, source[key], path)
            if converted is not None:
                policy[key] = converted
        return policy

    def _policy_value(self, key: str, value: object, path: Path) -> Any:
        f = self.fields
        match key:
            case "on_item_failure":
                return f.checked(value, path, field_rule(ErrorPolicy, key))
            case "continue_on_failure":
                return f.flag(value, path)
            case "max_failures":
                return f.whole(value, path, field_rule(ErrorPolicy, key))
            case "failure_threshold":
                return f.number(value, path, field_rule(ErrorPolicy, key))
            case "retry_config":
                return self._retry(value, path)
            case "circuit_breaker":
                return self._breaker(value, path)
        raise AssertionError(key)

    def _retry(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        raw = f.mapping(value, path, RETRY_KEYS)
        if raw is None:
            return None
        retry: dict[str, Any] = {}
        if "max_attempts" in raw:
            retry["max_attempts"] = f.whole(raw["max_attempts"], (*path, "max_attempts"),
                                            field_rule(RetryConfig, "max_attempts"))
        if "backoff" in raw:
            retry["backoff"] = self._backoff(raw["backoff"], (*path, "backoff"))
        if "max_delay" in raw:
            retry["max_delay"] = f.duration(raw["max_delay"], (*path, "max_delay"))
        if "jitter" in raw:
            retry["jitter"] = f.flag(raw["jitter"], (*path, "jitter"))
        return {key: item for key, item in retry.items() if item is not None}

    def _backoff(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        kinds = tuple(BACKOFF_KEYS)
        if isinstance(value, str):
            return {"kind": value} if f.checked(value, path, field_rule(Backoff, "kind")) else None
        if not isinstance(value, dict) or len(value) != 1:
            f.expected(path, "one of " + ", ".join(kinds) + " or a mapping with exactly one "
                       "of them, such as {exponential: {initial: 1, multiplier: 2}}", value)
            return None
        raw = f.mapping(value, path, kinds)
        if not raw:
            return None
        kind, settings = next(iter(raw.items()))
        where = (*path, kind)
        options = f.mapping(settings if settings is not None else {}, where, BACKOFF_KEYS[kind])
        if options is None:
            return None
        if "delay" in options and "initial" in options:
            f.report(where, "set delay or initial, not both")
            return None
        backoff: dict[str, Any] = {"kind": kind}
        for key, item in options.items():
            field = "initial" if key == "delay" else key
            if key == "multiplier":
                backoff[field] = f.number(item, (*where, key), field_rule(Backoff, key))
            else:
                backoff[field] = f.duration(item, (*where, key))
        return {key: item for key, item in backoff.items() if item is not None}

    def _breaker(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        raw = f.mapping(value, path, BREAKER_KEYS)
        if raw is None:
            return None
        breaker: dict[str, Any] = {}
        for key, item in raw.items():
            if key == "timeout":
                breaker[key] = f.duration(item, (*path, key))
            else:
                breaker[key] = f.whole(item, (*path, key), field_rule(CircuitBreakerConfig, key))
        return {key: item for key, item in breaker.items() if item is not None}

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
                if raw.get(key) is not None:
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
