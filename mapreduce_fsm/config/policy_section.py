"""Reading `error_policy` (and its keys at the top level): retries, backoff, breaker, reporting."""

from __future__ import annotations

import re
from typing import Any

import attrs

from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.model import Backoff, CircuitBreakerConfig, ErrorPolicy, RetryConfig
from mapreduce_fsm.config.rules import field_rule

POLICY_KEYS = ("on_item_failure", "continue_on_failure", "max_failures", "failure_threshold",
               "retry_config", "circuit_breaker", "error_collection")
RETRY_KEYS = ("max_attempts", "backoff", "max_delay", "jitter")
BACKOFF_KEYS = {
    "exponential": ("initial", "multiplier"),
    "linear": ("initial", "increment"),
    "fixed": ("delay", "initial"),
    "fibonacci": ("initial",),
}
BREAKER_KEYS = ("failure_threshold", "success_threshold", "timeout", "half_open_requests")


@attrs.define
class PolicyReader:
    """Reads the error policy from the top-level mapping of the file."""

    fields: FieldReader

    def error_policy(self, top: dict[str, Any]) -> dict[str, Any]:
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
            if key == "error_collection" and converted is not None:
                policy.update(converted)
            elif converted is not None:
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
            case "error_collection":
                return self._error_collection(value, path)
        raise AssertionError(key)

    def _error_collection(self, value: object, path: Path) -> dict[str, Any] | None:
        """`aggregate`, `immediate`, `batched:N` (top level) or `{batched: {size: N}}`."""
        f = self.fields
        nested = path[0] == "error_policy"
        if isinstance(value, str) and value in ("aggregate", "immediate"):
            return {"error_collection": value}
        if isinstance(value, str) and (match := re.fullmatch(r"batched:\s*(\d+)", value)):
            if nested:
                f.report(path, f"{show_value(value)} is the top-level form; inside error_policy "
                         "write {batched: {size: " + match.group(1) + "}} (Prodigy rejects "
                         "the string here too), or move it to the top level")
                return None
            size = int(match.group(1))
            if size < 1:
                f.report(path, "the batch size must be at least 1")
                return None
            return {"error_collection": "batched", "error_batch_size": size}
        if nested and isinstance(value, dict) and list(value) == ["batched"]:
            options = f.mapping(value["batched"], (*path, "batched"), ("size",),
                                required=("size",))
            if options and "size" in options and (batch := f.whole(
                    options["size"], (*path, "batched", "size"),
                    field_rule(ErrorPolicy, "error_batch_size"))) is not None:
                return {"error_collection": "batched", "error_batch_size": batch}
            return None
        forms = "aggregate, immediate or {batched: {size: N}}" if nested else \
            "aggregate, immediate or batched:N"
        f.expected(path, forms, value)
        return None

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
