"""The attrs model of a workflow file (docs/workflow-format.md sections 1, 2), normalised.

Every YAML shorthand is folded into one shape here: a setup given as a list becomes a
`SetupConfig`, every `on_failure` form becomes an `OnFailure`, durations are seconds,
`"$VAR"` numerics are resolved. The loader (`config.loader`) builds these; nothing else
in the package parses YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

from mapreduce_fsm.config.rules import (
    CAPTURE_OUTPUT,
    FRACTION,
    NON_EMPTY_TEXT,
    OCTAL_MODE,
    PERCENT,
    POSITIVE,
    SECONDS,
    WAIT_SECONDS,
    one_of,
    whole_at_least,
)

StepKind = Literal["shell", "claude", "write_file"]
CaptureFormat = Literal["string", "json", "lines", "number", "boolean"]
WriteFormat = Literal["text", "json", "yaml"]
CaptureSource = Literal["stdout", "stderr", "both"]
CaptureMultiline = Literal["preserve", "first_line", "last_line", "join", "array"]
ReduceConfirm = Literal["on_failure", "always", "never"]
ItemFailureAction = Literal["dlq", "retry", "skip", "stop"]
BackoffKind = Literal["exponential", "linear", "fixed", "fibonacci"]
ErrorCollection = Literal["aggregate", "immediate", "batched"]
TimeoutPolicy = Literal["per_agent", "per_command", "hybrid"]
TimeoutAction = Literal["dlq", "skip", "fail", "graceful_terminate"]
SecretProvider = Literal["env", "file"]
IsolationMode = Literal["auto", "worktree", "none"]  # docs/workflow-format.md §8

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
DEFAULT_MAX_PARALLEL = 10


@attrs.frozen(kw_only=True)
class WriteFileSpec:
    """`write_file:` — write interpolated content to a path."""

    path: str = attrs.field(validator=NON_EMPTY_TEXT)
    content: Any  # a string; for format json/yaml also any JSON-like structure
    format: WriteFormat = attrs.field(default="text", validator=one_of(WriteFormat))
    mode: str | None = attrs.field(default=None, validator=OCTAL_MODE.or_none())  # "0644"
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
    # how many times the handler (and, with retry_original, the step) runs
    max_attempts: int = attrs.field(default=1, validator=whole_at_least(1))
    retry_original: bool = False
    fail_workflow: bool = False


@attrs.frozen(kw_only=True)
class CaptureStreams:
    """`capture_streams`: which sub-fields a `capture: NAME` sets besides `${NAME}` (stdout)."""

    stdout: bool = True
    stderr: bool = False
    exit_code: bool = True
    success: bool = True
    duration: bool = True


@attrs.frozen(kw_only=True)
class OnIncomplete:
    """`validate.on_incomplete`: what runs when a validation scores below its threshold."""

    commands: tuple[Step, ...] = ()
    prompt: str | None = None  # shown in the failure message when the attempts run out
    max_attempts: int = attrs.field(default=2, validator=whole_at_least(1))
    fail_workflow: bool = True
    commit_required: bool = False


@attrs.frozen(kw_only=True)
class Validation:
    """A step's `validate:`: commands whose JSON (stdout or `result_file`) scores the step."""

    commands: tuple[Step, ...]
    result_file: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    threshold: float = attrs.field(default=100.0, validator=PERCENT)
    timeout: float | None = attrs.field(default=None, validator=SECONDS.or_none())
    expected_schema: Any = None  # accepted as Prodigy does; not checked
    on_incomplete: OnIncomplete | None = None


@attrs.frozen(kw_only=True)
class Step:
    """One step: exactly one of `shell`, `claude`, `write_file`, plus modifiers."""

    shell: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    claude: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    write_file: WriteFileSpec | None = None
    name: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    timeout: float | None = attrs.field(default=None, validator=SECONDS.or_none())  # seconds
    env: Mapping[str, str] = attrs.field(factory=dict)
    working_dir: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    when: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    # True -> ${shell.output} only; a name -> also ${NAME}
    capture_output: bool | str = attrs.field(default=False, validator=CAPTURE_OUTPUT)
    capture_format: CaptureFormat = attrs.field(default="string", validator=one_of(CaptureFormat))
    capture_streams: CaptureStreams | None = None  # set by `capture: NAME` (the defaults)
    commit_required: bool = False  # the step must move HEAD of its working directory
    validate: Validation | None = None
    on_failure: OnFailure | None = None
    on_success: Step | None = None
    max_output_bytes: int = attrs.field(default=DEFAULT_MAX_OUTPUT_BYTES,
                                        validator=whole_at_least(1))

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

    command_index: int = attrs.field(validator=whole_at_least(0))
    source: CaptureSource = attrs.field(default="stdout", validator=one_of(CaptureSource))
    pattern: str | None = None  # regex; group 1 when it has groups, else the whole match
    json_path: str | None = None  # JSONPath into the output parsed as JSON
    default: str | None = None  # used when the pattern / path matches nothing
    multiline: CaptureMultiline = attrs.field(default="preserve",
                                              validator=one_of(CaptureMultiline))


@attrs.frozen(kw_only=True)
class SetupConfig:
    commands: tuple[Step, ...] = ()
    timeout: float | None = attrs.field(default=None, validator=SECONDS.or_none())  # whole phase
    capture_outputs: Mapping[str, CaptureSpec] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TimeoutConfig:
    """`map.timeout_config`, Prodigy's form; its limits are folded into the steps and the map."""

    # by step kind ("claude", "shell") or kind and index among its kind ("claude_0")
    command_timeouts: Mapping[str, float] = attrs.field(factory=dict)
    timeout_policy: TimeoutPolicy = attrs.field(default="hybrid", validator=one_of(TimeoutPolicy))
    timeout_action: TimeoutAction = attrs.field(default="dlq", validator=one_of(TimeoutAction))
    enable_monitoring: bool = True


@attrs.frozen(kw_only=True)
class MapConfig:
    # a file path, else a shell command (both interpolated)
    input: str = attrs.field(validator=NON_EMPTY_TEXT)
    agent_template: tuple[Step, ...]
    json_path: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    filter: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    sort_by: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    distinct: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    offset: int = attrs.field(default=0, validator=whole_at_least(0))
    max_items: int | None = attrs.field(default=None, validator=whole_at_least(0).or_none())
    id_field: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    max_parallel: int = attrs.field(default=DEFAULT_MAX_PARALLEL, validator=whole_at_least(1))
    agent_timeout_secs: float | None = attrs.field(default=None, validator=SECONDS.or_none())
    # SIGTERM -> SIGKILL grace of a timed-out step (timeout_config.cleanup_grace_period_secs)
    kill_grace_secs: float | None = attrs.field(default=None, validator=WAIT_SECONDS.or_none())
    timeout_config: TimeoutConfig | None = None


@attrs.frozen(kw_only=True)
class ReduceConfig:
    commands: tuple[Step, ...] = ()
    when: str | None = attrs.field(default=None, validator=NON_EMPTY_TEXT.or_none())
    confirm: ReduceConfirm = attrs.field(default="on_failure", validator=one_of(ReduceConfirm))


@attrs.frozen(kw_only=True)
class Backoff:
    """`retry_config.backoff`: `{exponential: {initial, multiplier}}` and friends, or a kind."""

    kind: BackoffKind = attrs.field(default="exponential", validator=one_of(BackoffKind))
    # seconds; for `fixed` this is the delay (`delay:` is accepted too)
    initial: float = attrs.field(default=1.0, validator=WAIT_SECONDS)
    increment: float = attrs.field(default=1.0, validator=WAIT_SECONDS)  # linear: added per attempt
    multiplier: float = attrs.field(default=2.0, validator=POSITIVE)  # exponential: factor


@attrs.frozen(kw_only=True)
class RetryConfig:
    # attempts in all, the first included
    max_attempts: int = attrs.field(default=3, validator=whole_at_least(1))
    backoff: Backoff = attrs.field(factory=Backoff)
    max_delay: float | None = attrs.field(default=30.0, validator=WAIT_SECONDS.or_none())
    jitter: bool = False


@attrs.frozen(kw_only=True)
class CircuitBreakerConfig:
    # consecutive failures that open the circuit
    failure_threshold: int = attrs.field(default=5, validator=whole_at_least(1))
    # successes in half-open that close it
    success_threshold: int = attrs.field(default=2, validator=whole_at_least(1))
    timeout: float = attrs.field(default=30.0, validator=WAIT_SECONDS)  # open before half-open
    # items let through at once while half-open
    half_open_requests: int = attrs.field(default=1, validator=whole_at_least(1))


@attrs.frozen(kw_only=True)
class ErrorPolicy:
    on_item_failure: ItemFailureAction = attrs.field(default="dlq",
                                                     validator=one_of(ItemFailureAction))
    continue_on_failure: bool = True
    max_failures: int | None = attrs.field(default=None, validator=whole_at_least(1).or_none())
    failure_threshold: float | None = attrs.field(default=None, validator=FRACTION.or_none())
    retry_config: RetryConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = None
    # how item failures are reported: at the end, as they happen, or every `error_batch_size`
    error_collection: ErrorCollection = attrs.field(default="aggregate",
                                                    validator=one_of(ErrorCollection))
    error_batch_size: int | None = attrs.field(default=None, validator=whole_at_least(1).or_none())


@attrs.frozen(kw_only=True)
class SecretSpec:
    """`secrets.NAME`: the environment variable `key` (a plain string names it) or file `key`."""

    key: str = attrs.field(validator=NON_EMPTY_TEXT)
    provider: SecretProvider = attrs.field(default="env", validator=one_of(SecretProvider))


@attrs.frozen(kw_only=True)
class Profile:
    """`profiles.NAME`: variables that `--profile NAME` lays over `env`."""

    env: Mapping[str, str] = attrs.field(factory=dict)
    description: str | None = None


@attrs.frozen(kw_only=True)
class CustomPhaseConfig:
    """`custom_phases[]`: a registered phase type placed in the phase order."""

    # the state name; defaults to `type` when the file omits it
    name: str = attrs.field(validator=NON_EMPTY_TEXT)
    # a registered name, or "package.module:ClassName"
    type: str = attrs.field(validator=NON_EMPTY_TEXT)
    after: str | None = None  # the phase it follows; default: after the last phase
    before: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class MergeConfig:
    """Top-level `merge:`: the user's steps that replace the merge phase's default merge."""

    commands: tuple[Step, ...] = ()
    timeout: float | None = attrs.field(default=None, validator=SECONDS.or_none())  # whole phase


@attrs.frozen(kw_only=True)
class Workflow:
    """A whole, validated workflow file."""

    name: str = attrs.field(validator=NON_EMPTY_TEXT)
    map: MapConfig
    mode: Literal["mapreduce"] = attrs.field(default="mapreduce", validator=one_of(
        Literal["mapreduce"]))
    env: Mapping[str, str] = attrs.field(factory=dict)
    secrets: Mapping[str, SecretSpec] = attrs.field(factory=dict)
    setup: SetupConfig | None = None
    reduce: ReduceConfig | None = None
    error_policy: ErrorPolicy = attrs.field(factory=ErrorPolicy)
    custom_phases: tuple[CustomPhaseConfig, ...] = ()
    profiles: Mapping[str, Profile] = attrs.field(factory=dict)
    profile: str | None = None  # the profile applied to env, if any
    isolation: IsolationMode = attrs.field(default="auto", validator=one_of(IsolationMode))
    merge: MergeConfig | None = None
    source_path: str | None = attrs.field(default=None, eq=False)  # where it was loaded from


def every_step(steps: Iterable[Step]) -> Iterator[Step]:
    """Each step and every step inside it: on_failure handlers, on_success, and a
    validation's commands and on_incomplete commands, depth first."""
    for step in steps:
        yield step
        if step.on_failure is not None:
            yield from every_step(step.on_failure.handlers)
        if step.on_success is not None:
            yield from every_step((step.on_success,))
        if step.validate is not None:
            yield from every_step(step.validate.commands)
            if step.validate.on_incomplete is not None:
                yield from every_step(step.validate.on_incomplete.commands)
