"""Loading a workflow file: YAML, normalisation, semantic checks, then the attrs model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import cattrs

from mapreduce_fsm.config.fields import FieldReader
from mapreduce_fsm.config.model import Workflow
from mapreduce_fsm.config.references import ReferenceChecker
from mapreduce_fsm.config.sections import WorkflowReader
from mapreduce_fsm.config.steps import StepReader
from mapreduce_fsm.config.yamlsource import read_yaml
from mapreduce_fsm.convert import converter, structure_problems
from mapreduce_fsm.errors import ConfigIssue, WorkflowFileError


def load_workflow(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Workflow:
    """Load and validate a workflow file; raises WorkflowFileError listing every issue.

    >>> load_workflow(Path(__file__).parent.parent / "examples" / "word_stats.yml").name
    'word-stats'
    """
    filename = os.fspath(path)
    try:
        text = Path(filename).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise WorkflowFileError(
            [ConfigIssue(file=filename, line=None, path="", message=f"cannot read: {reason}")]
        ) from None
    return load_workflow_text(text, filename=filename, environ=environ, profile=profile)


def load_workflow_text(
    text: str, *, filename: str = "<workflow>", environ: Mapping[str, str] | None = None,
    profile: str | None = None, base_dir: str | os.PathLike[str] | None = None,
) -> Workflow:
    """Load and validate workflow YAML given as text; `filename` names it in messages.

    `profile` lays `profiles.NAME` over `env`; `env_files` are found in `base_dir`
    (default: the folder of `filename`).
    """
    environ = os.environ if environ is None else environ
    document, issues = read_yaml(text, filename)
    if issues and document.data is None:
        raise WorkflowFileError(issues)
    if document.data is None:
        raise WorkflowFileError([ConfigIssue(
            file=filename, line=None, path="",
            message="the file is empty; a workflow needs at least name: and map:")])
    fields = FieldReader(document=document, environ=environ, issues=issues)
    steps = StepReader(fields=fields)
    folder = Path(base_dir) if base_dir is not None else Path(filename).parent
    data = WorkflowReader(fields=fields, steps=steps, base_dir=folder,
                          profile=profile).workflow(document.data)
    if data:
        ReferenceChecker(fields=fields, origins=steps.origins, environ=environ).check(data)
    if fields.issues:
        raise WorkflowFileError(_in_file_order(fields.issues))
    try:
        return converter.structure({**data, "source_path": filename}, Workflow)
    except (cattrs.BaseValidationError, ValueError, TypeError) as error:
        # The checks above passed, so this is a loader bug; still a message, not a traceback.
        raise WorkflowFileError([
            ConfigIssue(file=filename, line=None, path=path.removeprefix("$").lstrip("."),
                        message=message)
            for path, message in structure_problems(error)]) from None


def _in_file_order(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: issue.line if issue.line is not None else 0)


def describe_workflow(workflow: Workflow) -> str:
    """One line about a valid workflow: its phases, steps, input and parallelism."""
    parts = []
    if workflow.setup is not None and workflow.setup.commands:
        parts.append(f"setup {_steps(len(workflow.setup.commands))}")
    map_config = workflow.map
    parts.append(f"map {_steps(len(map_config.agent_template))} over {map_config.input} "
                 f"(max_parallel {map_config.max_parallel})")
    if workflow.reduce is not None and workflow.reduce.commands:
        parts.append(f"reduce {_steps(len(workflow.reduce.commands))}")
    parts.extend(f"{phase.name} ({phase.type})" for phase in workflow.custom_phases)
    return f"{workflow.name}: valid — " + ", ".join(parts)


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"
