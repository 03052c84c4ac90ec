"""Normalising steps: the three step kinds, their modifiers, and every `on_failure` form."""

from __future__ import annotations

from typing import Any

import attrs

from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.model import OnFailure, OnIncomplete, Step, Validation, WriteFileSpec
from mapreduce_fsm.config.rules import CAPTURE_NAME, IDENTIFIER, field_rule

STEP_KINDS = ("shell", "claude", "write_file")
STEP_KEYS = (
    *STEP_KINDS, "name", "timeout", "env", "working_dir", "when", "capture_output", "capture",
    "capture_format", "capture_streams", "commit_required", "validate", "on_failure",
    "on_success", "max_output_bytes",
)
ON_FAILURE_OPTIONS = ("max_attempts", "retry_original", "fail_workflow")
STREAM_KEYS = ("stdout", "stderr", "exit_code", "success", "duration")
VALIDATE_KEYS = ("claude", "shell", "command", "commands", "result_file", "threshold",
                 "timeout", "expected_schema", "on_incomplete")
INCOMPLETE_KEYS = ("claude", "shell", "commands", "prompt", "max_attempts", "fail_workflow",
                   "commit_required")
WRITE_FILE_KEYS = ("path", "content", "format", "mode", "create_dirs")
# Names a capture may not take: the namespaces and the per-item variables.
RESERVED_NAMES = frozenset({
    "item", "map", "setup", "shell", "error", "workflow", "job", "env", "last",
    "item_index", "item_total", "item_id", "item_json",
})


@attrs.frozen(kw_only=True)
class StepOrigin:
    """Where a normalised step came from: its path, and whether it was a bare command string."""

    path: Path
    from_string: bool = False

    def field_path(self, field: str) -> Path:
        """The path of one of the step's fields; a bare string is its own `shell`/`claude`."""
        return self.path if self.from_string and field in STEP_KINDS else (*self.path, field)


@attrs.define
class StepReader:
    """Turns step mappings (and handler shorthands) into plain data shaped like `model.Step`.

    `origins` maps the id of every normalised step dict to where it came from, for the
    semantic checks that run on the normalised data.
    """

    fields: FieldReader
    origins: dict[int, StepOrigin] = attrs.field(factory=dict)

    def steps(
        self, value: object, path: Path, what: str = "a list of steps",
    ) -> list[dict[str, Any]]:
        entries = self.fields.items_of(value, path, what)
        if entries is None:
            return []
        steps = (self.step(entry, (*path, index)) for index, entry in enumerate(entries))
        return [step for step in steps if step is not None]

    def step(self, value: object, path: Path) -> dict[str, Any] | None:
        raw = self.fields.mapping(value, path, STEP_KEYS,
                                  what="a step (a mapping with shell, claude or write_file)")
        return None if raw is None else self._step_body(raw, path)

    def command(self, value: str, path: Path) -> dict[str, Any]:
        """A handler given as a string: a leading "/" means claude, anything else shell."""
        step = {"claude" if value.startswith("/") else "shell": value}
        self.origins[id(step)] = StepOrigin(path=path, from_string=True)
        return step

    def _step_body(self, raw: dict[str, Any], path: Path) -> dict[str, Any] | None:
        kinds = [kind for kind in STEP_KINDS if kind in raw]
        if len(kinds) != 1:
            got = f", got {' and '.join(kinds)}" if kinds else ""
            self.fields.report(
                path, f"a step needs exactly one of shell, claude or write_file{got}")
            return None
        step: dict[str, Any] = {}
        self.origins[id(step)] = StepOrigin(path=path)
        if "capture" in raw and "capture_output" in raw:
            self.fields.report((*path, "capture"), "set capture or capture_output, not both "
                               "(they are the same)", at_key=True)
            return None
        for key, value in raw.items():
            if key in STEP_KEYS:
                converted = self._modifier(key, value, (*path, key))
                if converted is not None:
                    step["capture_output" if key == "capture" else key] = converted
        if "capture" in raw and "capture_streams" not in step and "capture_output" in step:
            step["capture_streams"] = {}  # `capture: NAME` sets ${NAME.exit_code} and friends
        return step

    def _modifier(self, key: str, value: object, path: Path) -> Any:
        f = self.fields
        match key:
            case "shell" | "claude":
                return f.text(value, path, non_empty=True)
            case "write_file":
                return self._write_file(value, path)
            case "name" | "working_dir" | "when":
                return f.text(value, path, non_empty=True)
            case "timeout":
                return f.duration(value, path)
            case "env":
                return self.env_mapping(value, path)
            case "capture_output":
                return self._capture_output(value, path)
            case "capture":  # Prodigy's name for capture_output: NAME, with sub-fields
                return self._capture_output(value, path)
            case "capture_streams":
                return self._streams(value, path)
            case "commit_required":
                return f.flag(value, path)
            case "validate":
                return self._validation(value, path)
            case "capture_format":
                return f.checked(value, path, field_rule(Step, key))
            case "max_output_bytes":
                return f.whole(value, path, field_rule(Step, key))
            case "on_failure":
                return self.on_failure(value, path)
            case "on_success":
                if isinstance(value, str) and value.strip():
                    return self.command(value, path)
                return self.step(value, path)
        raise AssertionError(key)

    def env_mapping(self, value: object, path: Path) -> dict[str, str] | None:
        """`env:` — names to strings; numbers and booleans are rendered as text."""
        raw = value if value is not None else {}
        if not isinstance(raw, dict):
            self.fields.expected(path, "a mapping of names to values", value)
            return None
        env: dict[str, str] = {}
        for name, item in raw.items():
            if IDENTIFIER.match(name) is None:
                self.fields.report((*path, name), "expected a variable name (letters, digits "
                                   "and _, not starting with a digit)", at_key=True)
                continue
            if isinstance(item, dict):
                self.fields.report((*path, name), "an env value is a string, not a mapping "
                                   "(Prodigy rejects this form too); put secret values under "
                                   "secrets: NAME: ENV_VAR")
                continue
            text = self.fields.scalar_text(item, (*path, name))
            if text is not None:
                env[name] = text
        return env

    def _capture_output(self, value: object, path: Path) -> bool | str | None:
        checked = self.fields.checked(value, path, field_rule(Step, "capture_output"))
        return self.capture_name(checked, path) if isinstance(checked, str) else checked

    def capture_name(self, name: str, path: Path, *, at_key: bool = False) -> str | None:
        if CAPTURE_NAME.match(name) is None:
            self.fields.report(path, f"{show_value(name)} is not a variable name (letters, "
                               "digits and _, not starting with a digit)", at_key=at_key)
            return None
        if "." in name:
            if name.split(".")[0] in RESERVED_NAMES - {"shell"}:
                self.fields.report(path, f"{show_value(name)} is in a reserved namespace; "
                                   "choose another capture name", at_key=at_key)
                return None
            return name
        if name in RESERVED_NAMES:
            self.fields.report(path, f"{show_value(name)} is a reserved variable name; "
                               "choose another capture name", at_key=at_key)
            return None
        return name

    def _write_file(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        raw = f.mapping(value, path, WRITE_FILE_KEYS, required=("path", "content"))
        if raw is None:
            return None
        spec: dict[str, Any] = {}
        if "path" in raw and (target := f.text(raw["path"], (*path, "path"), non_empty=True)):
            spec["path"] = target
        if "format" in raw and (kind := f.checked(raw["format"], (*path, "format"),
                                                  field_rule(WriteFileSpec, "format"))):
            spec["format"] = kind
        if "content" in raw:
            content = raw["content"]
            if spec.get("format", "text") == "text" and not isinstance(content, str):
                f.expected((*path, "content"), 'a string (or use format: json or yaml)', content)
            else:
                spec["content"] = content
        if "mode" in raw:
            mode = f.checked(raw["mode"], (*path, "mode"), field_rule(WriteFileSpec, "mode"))
            if mode is not None:
                spec["mode"] = mode
        if "create_dirs" in raw and (create := f.flag(raw["create_dirs"],
                                                      (*path, "create_dirs"))) is not None:
            spec["create_dirs"] = create
        return spec

    def on_failure(self, value: object, path: Path) -> dict[str, Any] | None:
        """Every `on_failure` form as `model.OnFailure` data; `false` is None."""
        if isinstance(value, bool):
            return {"ignore": True} if value else None
        if isinstance(value, str) and value.strip():
            return {"handlers": [self.command(value, path)]}
        if isinstance(value, list):
            handlers = []
            for index, entry in enumerate(value):
                if isinstance(entry, str) and entry.strip():
                    handlers.append(self.command(entry, (*path, index)))
                elif isinstance(entry, dict):
                    self.fields.report((*path, index), "on_failure takes one mapping, not a "
                                       "list of them (Prodigy rejects this form too): write "
                                       "{shell: ..., max_attempts: ...}, or a list of commands")
                else:
                    self.fields.expected((*path, index), "a command string", entry)
            return {"handlers": handlers}
        if not isinstance(value, dict):
            self.fields.expected(path, "true, false, a command, a list of commands or a "
                                 "mapping with shell or claude", value)
            return None
        raw = self.fields.mapping(value, path, (*STEP_KEYS, *ON_FAILURE_OPTIONS))
        assert raw is not None
        policy: dict[str, Any] = {}
        if "max_attempts" in raw:
            attempts = self.fields.whole(raw["max_attempts"], (*path, "max_attempts"),
                                         field_rule(OnFailure, "max_attempts"))
            if attempts is not None:
                policy["max_attempts"] = attempts
        for option in ("retry_original", "fail_workflow"):
            flag = self.fields.flag(raw[option], (*path, option)) if option in raw else None
            if flag is not None:
                policy[option] = flag
        handler = self._step_body(
            {key: item for key, item in raw.items() if key in STEP_KEYS}, path)
        policy["handlers"] = [] if handler is None else [handler]
        return policy

    def _streams(self, value: object, path: Path) -> dict[str, bool] | None:
        raw = self.fields.mapping(value, path, STREAM_KEYS)
        if raw is None:
            return None
        flags = {key: self.fields.flag(item, (*path, key)) for key, item in raw.items()}
        return {key: flag for key, flag in flags.items() if flag is not None}

    def _commands_of(self, raw: dict[str, Any], path: Path) -> list[dict[str, Any]]:
        """`claude:`/`shell:`/`command:` as one step, or `commands:` as a list of steps."""
        steps: list[dict[str, Any]] = []
        for kind in ("claude", "shell", "command"):
            if kind in raw and (text := self.fields.text(raw[kind], (*path, kind),
                                                         non_empty=True)):
                step: dict[str, Any] = {"shell" if kind == "command" else kind: text}
                self.origins[id(step)] = StepOrigin(path=(*path, kind), from_string=True)
                steps.append(step)
        if "commands" in raw:
            steps.extend(self.steps(raw["commands"], (*path, "commands")))
        return steps

    def _validation(self, value: object, path: Path) -> dict[str, Any] | None:
        """`validate:` — a list of steps, or Prodigy's mapping with a threshold and retries."""
        f = self.fields
        if isinstance(value, list):
            return {"commands": [
                self.command(entry, (*path, index)) if isinstance(entry, str) and entry.strip()
                else self.step(entry, (*path, index)) for index, entry in enumerate(value)]}
        raw = f.mapping(value, path, VALIDATE_KEYS,
                        what="a list of steps or a mapping with claude, shell or commands")
        if raw is None:
            return None
        validation: dict[str, Any] = {"commands": self._commands_of(raw, path)}
        if not validation["commands"] and not any(
                key in raw for key in ("claude", "shell", "command", "commands", "result_file")):
            f.report(path, "validate needs claude, shell, command, commands or result_file")
        if "result_file" in raw:
            validation["result_file"] = f.text(raw["result_file"], (*path, "result_file"),
                                               non_empty=True)
        if "threshold" in raw:
            validation["threshold"] = f.number(raw["threshold"], (*path, "threshold"),
                                               field_rule(Validation, "threshold"))
        if "timeout" in raw:
            validation["timeout"] = f.duration(raw["timeout"], (*path, "timeout"))
        if "expected_schema" in raw:
            validation["expected_schema"] = raw["expected_schema"]
        if raw.get("on_incomplete") is not None:
            validation["on_incomplete"] = self._on_incomplete(raw["on_incomplete"],
                                                              (*path, "on_incomplete"))
        return {key: item for key, item in validation.items() if item is not None}

    def _on_incomplete(self, value: object, path: Path) -> dict[str, Any] | None:
        f = self.fields
        raw = f.mapping(value, path, INCOMPLETE_KEYS,
                        what="a mapping with claude, shell, commands or prompt")
        if raw is None:
            return None
        policy: dict[str, Any] = {"commands": self._commands_of(raw, path)}
        if "prompt" in raw:
            policy["prompt"] = f.text(raw["prompt"], (*path, "prompt"), non_empty=True)
        if not policy["commands"] and "prompt" not in raw:
            f.report(path, "on_incomplete needs claude, shell, commands or prompt")
        if "max_attempts" in raw:
            policy["max_attempts"] = f.whole(raw["max_attempts"], (*path, "max_attempts"),
                                             field_rule(OnIncomplete, "max_attempts"))
        for option in ("fail_workflow", "commit_required"):
            if option in raw:
                policy[option] = f.flag(raw[option], (*path, option))
        return {key: item for key, item in policy.items() if item is not None}
