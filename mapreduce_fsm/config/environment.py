"""Reading where a workflow's variables come from: `env_files`, `profiles` and `secrets`."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any

import attrs

from mapreduce_fsm.config.envfile import EnvFileError, parse_env_file
from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.messages import Path, show_value
from mapreduce_fsm.config.steps import StepReader


@attrs.define
class EnvironmentReader:
    """Reads `env_files` (relative to `base_dir`), `profiles` and `secrets`."""

    fields: FieldReader
    steps: StepReader
    base_dir: FilePath | None = None

    def env_files(self, value: object) -> dict[str, str]:
        """`env_files:` — `.env` files, relative to the workflow file, loaded in order."""
        env: dict[str, str] = {}
        for index, entry in enumerate(self.fields.items_of(value, ("env_files",),
                                                           "a list of file paths") or []):
            where: Path = ("env_files", index)
            name = self.fields.text(entry, where, non_empty=True)
            if name is None:
                continue
            file = (self.base_dir or FilePath(".")) / FilePath(name).expanduser()
            try:
                env.update(parse_env_file(file.read_text(encoding="utf-8"), str(file)))
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else str(error)
                self.fields.report(where, f"cannot read env file {file}: {reason}")
            except EnvFileError as error:
                self.fields.report(where, str(error))
        return env

    def profiles(self, value: object, path: Path) -> dict[str, Any]:
        f = self.fields
        if not isinstance(value, dict):
            f.expected(path, "a mapping of profile names to {VAR: value, description}", value)
            return {}
        profiles: dict[str, Any] = {}
        for name, spec in value.items():
            where = (*path, name)
            if not isinstance(spec, dict):
                f.expected(where, "a mapping of variables to values", spec)
                continue
            description = spec.get("description")
            if description is not None and not isinstance(description, str):
                f.expected((*where, "description"), "a string", description)
            variables = {key: item for key, item in spec.items() if key != "description"}
            profiles[str(name)] = {"env": self.steps.env_mapping(variables, where) or {},
                                   "description": description}
        return profiles

    def secrets(self, value: object, path: Path) -> dict[str, Any]:
        f = self.fields
        raw = value if value is not None else {}
        if not isinstance(raw, dict):
            f.expected(path, "a mapping of names to environment variable names or "
                       "{provider: env|file, key: ...}", value)
            return {}
        secrets: dict[str, Any] = {}
        for name, spec in raw.items():
            where = (*path, name)
            if f.identifier(name, where, "a secret name") is None:
                continue
            if isinstance(spec, str):  # as Prodigy reads it: the variable holding the secret
                if f.identifier(spec, where, "the name of the environment variable that "
                                "holds the secret") is not None:
                    secrets[name] = {"key": spec}
            elif isinstance(spec, dict) and "env" in spec:
                source = f.mapping(spec, where, ("env",), required=("env",))
                if source and (variable := f.identifier(source["env"], (*where, "env"),
                                                        "an environment variable name")):
                    secrets[name] = {"key": variable}
            elif isinstance(spec, dict):
                source = f.mapping(spec, where, ("provider", "key"), required=("provider", "key"))
                if not source or "provider" not in source or "key" not in source:
                    continue
                provider = source["provider"]
                if provider not in ("env", "file"):
                    f.report((*where, "provider"), f"secret provider {show_value(provider)} "
                             "is not supported; use env (an environment variable) or file "
                             "(a file holding the secret)")
                    continue
                key = f.text(source["key"], (*where, "key"), non_empty=True)
                if key is not None:
                    secrets[name] = {"provider": provider, "key": key}
            else:
                f.expected(where, "an environment variable name or {provider: env|file, "
                           "key: ...}", spec)
        return secrets
