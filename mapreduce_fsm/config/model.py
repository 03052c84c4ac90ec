"""The attrs model of a workflow file (WORKFLOW_FORMAT.md sections 1 and 2), after normalisation.

Every YAML shorthand is folded into one shape here: a setup given as a list becomes a
`SetupConfig`, every `on_failure` form becomes an `OnFailure`, durations are seconds,
`"$VAR"` numerics are resolved. The loader (`config.loader`) builds these; nothing else
in the package parses YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

StepKind = Literal["shell", "claude", "write_file"]
CaptureFormat = Literal["string", "json", "lines", "number", "boolean"]
WriteFormat = Literal["text", "json", "yaml"]
CaptureSource = Literal["stdout", "stderr", "both"]
CaptureMultiline = Literal["preserve", "first_line", "last_line", "join", "array"]
ReduceConfirm = Literal["on_failure", "always", "never"]
ItemFailureAction = Literal["dlq", "retry", "skip", "stop"]
BackoffKind = Literal["fixed", "linear", "exponential", "fibonacci"]

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
DEFAULT_MAX_PARALLEL = 10


@attrs.frozen(kw_only=True)
class WriteFileSpec:
    """`write_file:` — write interpolated content to a path."""

    path: str
    content: Any  # a string; for format json/yaml also any JSON-like structure
    format: WriteFormat = "text"
    mode: str | None = None  # octal text such as "0644"
    create_dirs: bool = False


@attrs.frozen(kw_only=True)
class OnFailure:
    """Every `on_failure` form, normalised.

    - `true`  -> `OnFailure(ignore=True)`: the failure is ignored, the step counts as recovered.
    - `false` -> no OnFailure at all (`Step.on_failure is None`).
    - a string / list of strings / `{shell|claude: ...}` / a full step -> `handlers`.
    """

    handlers: tuple[Step, ...] = ()
    ignore: bool = False
    max_attempts: int = 1  # how many times the handler (and, with retry_original, the step) runs
    retry_original: bool = False
    fail_workflow: bool = False


@attrs.frozen(kw_only=True)
class Step:
    """One step: exactly one of `shell`, `claude`, `write_file`, plus modifiers."""

    shell: str | None = None
    claude: str | None = None
    write_file: WriteFileSpec | None = None
    name: str | None = None
    timeout: float | None = None  # seconds
    env: Mapping[str, str] = attrs.field(factory=dict)
    working_dir: str | None = None
    when: str | None = None
    capture_output: bool | str = False  # True -> ${shell.output} only; a name -> also ${NAME}
    capture_format: CaptureFormat = "string"
    on_failure: OnFailure | None = None
    on_success: Step | None = None
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES

    @property
    def kind(self) -> StepKind:
        if self.shell is not None:
            return "shell"
        if self.claude is not None:
            return "claude"
        return "write_file"

    @property
    def label(self) -> str:
        """What progress, events and errors call this step: its name, else its command."""
        if self.name:
            return self.name
        if self.write_file is not None:
            return f"write_file {self.write_file.path}"
        text = self.shell if self.shell is not None else f"claude {self.claude}"
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."


@attrs.frozen(kw_only=True)
class CaptureSpec:
    """`setup.capture_outputs.NAME`: take a variable from one setup step's output."""

    command_index: int
    source: CaptureSource = "stdout"
    pattern: str | None = None  # regex; group 1 when it has groups, else the whole match
    json_path: str | None = None  # JSONPath into the output parsed as JSON
    default: str | None = None  # used when the pattern / path matches nothing
    multiline: CaptureMultiline = "preserve"


@attrs.frozen(kw_only=True)
class SetupConfig:
    commands: tuple[Step, ...] = ()
    timeout: float | None = None  # seconds for the whole phase
    capture_outputs: Mapping[str, CaptureSpec] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class MapConfig:
    input: str  # a file path, else a shell command (both interpolated)
    agent_template: tuple[Step, ...]
    json_path: str | None = None
    filter: str | None = None
    sort_by: str | None = None
    distinct: str | None = None
    offset: int = 0
    max_items: int | None = None
    id_field: str | None = None
    max_parallel: int = DEFAULT_MAX_PARALLEL
    agent_timeout_secs: float | None = None


@attrs.frozen(kw_only=True)
class ReduceConfig:
    commands: tuple[Step, ...] = ()
    when: str | None = None
    confirm: ReduceConfirm = "on_failure"


@attrs.frozen(kw_only=True)
class Backoff:
    """`retry_config.backoff`: `{exponential: {initial, multiplier}}` and friends, or a kind."""

    kind: BackoffKind = "exponential"
    initial: float = 1.0  # seconds; for `fixed` this is the delay (`delay:` is accepted too)
    increment: float = 1.0  # linear: added per attempt
    multiplier: float = 2.0  # exponential: factor per attempt


@attrs.frozen(kw_only=True)
class RetryConfig:
    max_attempts: int = 3  # attempts in all, the first included
    backoff: Backoff = attrs.field(factory=Backoff)
    max_delay: float | None = 30.0
    jitter: bool = False


@attrs.frozen(kw_only=True)
class CircuitBreakerConfig:
    failure_threshold: int = 5  # consecutive failures that open the circuit
    success_threshold: int = 2  # successes in half-open that close it
    timeout: float = 30.0  # seconds open before trying half-open
    half_open_requests: int = 1  # items let through at once while half-open


@attrs.frozen(kw_only=True)
class ErrorPolicy:
    on_item_failure: ItemFailureAction = "dlq"
    continue_on_failure: bool = True
    max_failures: int | None = None
    failure_threshold: float | None = None  # 0..1
    retry_config: RetryConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = None


@attrs.frozen(kw_only=True)
class SecretSpec:
    """`secrets.NAME`: `{env: VAR}` reads the run's environment; a plain string is the value."""

    env: str | None = None
    value: str | None = None


@attrs.frozen(kw_only=True)
class CustomPhaseConfig:
    """`custom_phases[]`: a registered phase type placed in the phase order."""

    name: str  # the state name; defaults to `type` when the file omits it
    type: str  # a registered name, or "package.module:ClassName"
    after: str | None = None  # the phase it follows; default: after the last phase
    before: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Workflow:
    """A whole, validated workflow file."""

    name: str
    map: MapConfig
    mode: Literal["mapreduce"] = "mapreduce"
    env: Mapping[str, str] = attrs.field(factory=dict)
    secrets: Mapping[str, SecretSpec] = attrs.field(factory=dict)
    setup: SetupConfig | None = None
    reduce: ReduceConfig | None = None
    error_policy: ErrorPolicy = attrs.field(factory=ErrorPolicy)
    custom_phases: tuple[CustomPhaseConfig, ...] = ()
    source_path: str | None = attrs.field(default=None, eq=False)  # where it was loaded from
