"""Reading Prodigy's `map.timeout_config` and folding its limits into the map and its steps."""

from __future__ import annotations

import re
from typing import Any

import attrs

from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path
from mapreduce_fsm.config.model import MapConfig, TimeoutConfig
from mapreduce_fsm.config.rules import field_rule

TIMEOUT_KEYS = ("agent_timeout_secs", "command_timeouts", "timeout_policy",
                "cleanup_grace_period_secs", "timeout_action", "enable_monitoring")
# Prodigy's CamelCase enum values, and their snake_case spelling, to ours
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_COMMAND_TIMEOUT_KEY = re.compile(r"(claude|shell)(?:_(\d+))?\Z")


@attrs.define
class TimeoutConfigReader:
    """Reads `timeout_config` into the map's data (`config`)."""

    fields: FieldReader

    def read(self, value: object, path: Path, config: dict[str, Any]) -> None:
        """Prodigy's `timeout_config`, folded: limits go to the map and to its steps."""
        f = self.fields
        raw = f.mapping(value, path, TIMEOUT_KEYS)
        if raw is None:
            return
        settings: dict[str, Any] = {}
        if raw.get("agent_timeout_secs") is not None:
            if "agent_timeout_secs" in config:
                f.report((*path, "agent_timeout_secs"), "also set as map.agent_timeout_secs; "
                         "set it in one place only", at_key=True)
            config["agent_timeout_secs"] = f.duration(raw["agent_timeout_secs"],
                                                      (*path, "agent_timeout_secs"))
        if raw.get("cleanup_grace_period_secs") is not None:
            config["kill_grace_secs"] = f.number(
                raw["cleanup_grace_period_secs"], (*path, "cleanup_grace_period_secs"),
                field_rule(MapConfig, "kill_grace_secs"))
        for key in ("timeout_policy", "timeout_action"):
            if raw.get(key) is not None:
                settings[key] = f.checked(_snake_case(raw[key]), (*path, key),
                                          field_rule(TimeoutConfig, key))
        if "enable_monitoring" in raw:
            settings["enable_monitoring"] = f.flag(raw["enable_monitoring"],
                                                   (*path, "enable_monitoring"))
        if raw.get("command_timeouts") is not None:
            settings["command_timeouts"] = self._command_timeouts(
                raw["command_timeouts"], (*path, "command_timeouts"))
        config["timeout_config"] = {key: item for key, item in settings.items()
                                    if item is not None}

    def _command_timeouts(self, value: object, path: Path) -> dict[str, float]:
        f = self.fields
        if not isinstance(value, dict):
            f.expected(path, "a mapping such as {claude: 600, shell: 60, claude_0: 900}", value)
            return {}
        limits: dict[str, float] = {}
        for key, item in value.items():
            if not isinstance(key, str) or _COMMAND_TIMEOUT_KEY.match(key) is None:
                f.report((*path, key), "expected claude, shell, or a step kind and its index "
                         "among the steps of that kind, such as claude_0 or shell_1",
                         at_key=True)
                continue
            seconds = f.duration(item, (*path, key))
            if seconds is not None:
                limits[key] = seconds
        return limits
def _snake_case(value: object) -> object:
    """Prodigy's `GracefulTerminate` or `graceful_terminate` as ours: `graceful_terminate`."""
    if not isinstance(value, str):
        return value
    return _CAMEL.sub("_", value).lower()


def apply_timeouts(config: dict[str, Any]) -> None:
    """Fold `timeout_config` into real limits: per-command ones become step timeouts.

    A step's own `timeout` wins; then `KIND_N` (the Nth step of that kind, from 0), then
    `KIND`. `PerAgent` keeps only the agent's limit, `PerCommand` only the steps'.
    """
    settings = config.get("timeout_config") or {}
    policy = settings.get("timeout_policy", "hybrid")
    if policy == "per_command":
        config.pop("agent_timeout_secs", None)
    limits = settings.get("command_timeouts") or {}
    if policy == "per_agent" or not limits:
        return
    counts: dict[str, int] = {}
    for step in config.get("agent_template") or []:
        kind = "claude" if "claude" in step else "shell" if "shell" in step else None
        if kind is None:
            continue
        index = counts.get(kind, 0)
        counts[kind] = index + 1
        limit = limits.get(f"{kind}_{index}", limits.get(kind))
        if limit is not None and "timeout" not in step:
            step["timeout"] = limit
