"""Which isolation applies: the workflow's key, --isolation, and `auto` inside a git work tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git import decide_isolation, workflow_wants_isolation
from mapreduce_fsm.phases.registry import build_phases
from tests.git.repos import git, make_repo

PLAIN = """
name: plain
map:
  input: items.json
  agent_template: [{shell: "echo ${item}"}]
"""
WITH_MERGE = PLAIN + """
merge:
  - shell: "echo ${merge.source_branch}"
"""


def test_auto_isolates_a_workflow_with_a_merge_block_inside_a_git_work_tree(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "sub").mkdir()
    plan = decide_isolation(load_workflow_text(WITH_MERGE), requested=None, cwd=repo / "sub")
    assert plan.mode == "worktree"
    assert "merge block" in plan.reason and str(repo) in plan.reason


def test_auto_does_not_isolate_outside_git_or_without_a_reason(tmp_path: Path) -> None:
    outside = decide_isolation(load_workflow_text(WITH_MERGE), requested=None, cwd=tmp_path)
    assert (outside.mode, outside.reason) == (
        "none", f"auto: {tmp_path} is not in a git work tree")
    repo = make_repo(tmp_path / "repo")
    plain = decide_isolation(load_workflow_text(PLAIN), requested=None, cwd=repo)
    assert plain.mode == "none" and "no commit_required step and no merge block" in plain.reason


def _with_template(template: str) -> str:
    return PLAIN.replace('[{shell: "echo ${item}"}]', template)


@pytest.mark.parametrize("text", [
    _with_template('[{shell: "git commit -qam x", commit_required: true}]'),
    _with_template('[{shell: "false", on_failure: '
                   '{shell: "git commit -qam fix", commit_required: true}}]'),
    _with_template('[{shell: "true", validate: {shell: "echo {}", on_incomplete: '
                   '{shell: "git commit -qam more", commit_required: true}}}]'),
    PLAIN + 'reduce:\n  - {shell: "git commit -qam r", commit_required: true}\n',
], ids=["map-step", "on_failure-handler", "validate-on_incomplete", "reduce-step"])
def test_auto_isolates_a_workflow_with_a_commit_required_step_anywhere(
        tmp_path: Path, text: str) -> None:
    workflow = load_workflow_text(text)
    assert workflow_wants_isolation(workflow) == "the workflow has a commit_required step"
    plan = decide_isolation(workflow, requested=None, cwd=make_repo(tmp_path / "repo"))
    assert plan.mode == "worktree"


def test_the_flag_overrides_the_workflow(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    workflow = load_workflow_text(PLAIN + "isolation: none\n")
    assert decide_isolation(workflow, requested=None, cwd=repo).mode == "none"
    forced = decide_isolation(workflow, requested="worktree", cwd=repo)
    assert (forced.mode, forced.reason) == ("worktree", "--isolation worktree")
    assert decide_isolation(load_workflow_text(WITH_MERGE), requested="none",
                            cwd=repo).mode == "none"


def test_worktree_outside_a_git_work_tree_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside one"):
        decide_isolation(load_workflow_text(PLAIN + "isolation: worktree\n"),
                         requested=None, cwd=tmp_path)


def test_a_repository_without_a_commit_cannot_be_isolated(tmp_path: Path) -> None:
    """Found before the job exists: a job directory without a checkpoint would be left."""
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(UsageError, match="has no commit to start from yet"):
        decide_isolation(load_workflow_text(PLAIN), requested="worktree", cwd=empty)
    auto = decide_isolation(load_workflow_text(WITH_MERGE), requested=None, cwd=empty)
    assert (auto.mode, auto.reason) == ("none", f"auto: the repository {empty} has no commit")


def test_the_merge_phase_follows_reduce_only_when_isolated() -> None:
    plain, merging = load_workflow_text(PLAIN), load_workflow_text(WITH_MERGE)
    assert workflow_wants_isolation(plain) is None
    assert [phase.name for phase in build_phases(plain)] == ["setup", "map", "reduce"]
    assert [phase.name for phase in build_phases(merging)] == [
        "setup", "map", "reduce", "merge"]
    assert [phase.name for phase in build_phases(merging, isolated=False)] == [
        "setup", "map", "reduce"]
    assert [phase.name for phase in build_phases(plain, isolated=True)][-1] == "merge"


def test_merge_block_forms_and_a_bad_isolation_value() -> None:
    long_form = load_workflow_text(
        PLAIN + "merge:\n  commands: [{shell: echo hi}]\n  timeout: 60\n")
    assert long_form.merge is not None and long_form.merge.timeout == 60
    assert [step.shell for step in long_form.merge.commands] == ["echo hi"]
    with pytest.raises(Exception, match="isolation: expected one of auto, worktree, none"):
        load_workflow_text(PLAIN + "isolation: worktrees\n")
