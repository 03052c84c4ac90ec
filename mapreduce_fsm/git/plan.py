"""Which isolation a run gets (`isolation: auto|worktree|none`, `--isolation`), and why."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

from mapreduce_fsm.config.model import Workflow, every_step
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git.command import git_sync

Isolation = Literal["worktree", "none"]


@attrs.frozen(kw_only=True)
class IsolationPlan:
    """The isolation that applies, with the reason the run's header and `--dry-run` show."""

    mode: Isolation
    reason: str

    @property
    def isolated(self) -> bool:
        return self.mode == "worktree"

    def describe(self) -> str:
        return f"isolation: {self.mode} ({self.reason})"


def _commit_required(workflow: Workflow) -> bool:
    steps = [*workflow.map.agent_template]
    for section in (workflow.setup, workflow.reduce, workflow.merge):
        if section is not None:
            steps += section.commands
    return any(
        step.commit_required or (
            step.validate is not None and step.validate.on_incomplete is not None
            and step.validate.on_incomplete.commit_required)
        for step in every_step(steps))


def workflow_wants_isolation(workflow: Workflow) -> str | None:
    """Why `auto` would isolate this workflow inside a git work tree, or None."""
    if workflow.merge is not None:
        return "the workflow has a merge block"
    if _commit_required(workflow):
        return "the workflow has a commit_required step"
    return None


def git_top_level(cwd: Path) -> Path | None:
    """The root of the git work tree that holds `cwd`, or None outside one."""
    inside = git_sync("rev-parse", "--is-inside-work-tree", cwd=cwd)
    if inside != "true":
        return None
    top = git_sync("rev-parse", "--show-toplevel", cwd=cwd)
    return Path(top) if top else None


def decide_isolation(workflow: Workflow, *, requested: str | None, cwd: Path) -> IsolationPlan:
    """`requested` (--isolation) else the workflow's `isolation`; `auto` looks at the repo."""
    mode = requested or workflow.isolation
    source = f"--isolation {mode}" if requested else f"the workflow says isolation: {mode}"
    if mode == "none":
        return IsolationPlan(mode="none", reason=source)
    top = git_top_level(cwd)
    no_commit = top is not None and git_sync("rev-parse", "--verify", "--quiet", "HEAD",
                                             cwd=top) is None
    if mode == "worktree":
        if top is None or no_commit:
            where = (f"{cwd} is not inside one" if top is None
                     else f"the repository {top} has no commit to start from yet")
            raise UsageError(
                f"{source}, which needs a git work tree with a commit, but {where}; "
                "run from a git repository that has a commit, or use --isolation none"
            )
        return IsolationPlan(mode="worktree", reason=source)
    if mode != "auto":
        raise UsageError(f"--isolation must be auto, worktree or none, not {mode!r}")
    wants = workflow_wants_isolation(workflow)
    if top is None:
        return IsolationPlan(mode="none", reason=f"auto: {cwd} is not in a git work tree")
    if no_commit:
        return IsolationPlan(mode="none", reason=f"auto: the repository {top} has no commit")
    if wants is None:
        return IsolationPlan(
            mode="none", reason="auto: no commit_required step and no merge block")
    return IsolationPlan(mode="worktree", reason=f"auto: {wants}, in the git work tree {top}")
