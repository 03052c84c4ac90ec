"""The merge phase through the Python API: confirmation, declining, a `merge:` block."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mapreduce_fsm.config.references import MERGE_VARIABLES
from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git import open_session
from mapreduce_fsm.git.merge_back import merge_variables
from mapreduce_fsm.jobs.run import Services, resume_job, run_workflow
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore
from tests.git.repos import git, make_repo, subjects, worktrees

COMMITTING = """\
name: merging
isolation: worktree
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "echo ${item} > f-${item}.txt && git add -A && git commit -q -m 'item ${item}'"
"""


def repo_with(tmp_path: Path, workflow: str) -> Path:
    return make_repo(tmp_path / "repo", {"items.json": json.dumps([1, 2, 3]),
                                         "wf.yml": workflow})


def run(repo: Path, tmp_path: Path, interaction: ScriptedInteraction, job_id: str = "m",
        options: RunOptions | None = None) -> int:
    result = asyncio.run(run_workflow(
        repo / "wf.yml", job_id=job_id, state_dir=tmp_path / "state", working_dir=repo,
        services=Services(interaction=interaction, options=options or RunOptions())))
    return result.exit_code


def test_declining_pauses_naming_the_branch_and_resume_asks_again(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, COMMITTING)
    start = git(repo, "rev-parse", "main")
    declined = ScriptedInteraction([False])
    assert run(repo, tmp_path, declined) == 3
    assert declined.prompts == [
        "Merge 3 commits (3 files) from mapreduce-fsm/m/session into main?"]
    assert ("warning", "the user declined the merge; the work is on branch "
            "mapreduce-fsm/m/session") in declined.messages
    assert git(repo, "rev-parse", "main") == start  # untouched
    store = JobStore(tmp_path / "state", "m")
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None and checkpoint.phase_order[-1] == "merge"
    assert (checkpoint.state, checkpoint.resume_phase) == ("paused", "merge")
    accepted = ScriptedInteraction([True])
    resumed = asyncio.run(resume_job("m", state_dir=tmp_path / "state",
                                     services=Services(interaction=accepted)))
    assert resumed.exit_code == 0
    assert sorted(s for s in subjects(repo, "main") if s.startswith("item")) == [
        "item 1", "item 2", "item 3"]
    assert worktrees(repo) == [str(repo)]


MERGE_BLOCK = COMMITTING.replace("isolation: worktree\n", "") + """\
merge:
  commands:
    - shell: >-
        echo "${merge.source_branch} ${merge.target_branch} ${merge.session_id}
        ${merge.commit_count} ${merge.file_count} ${merge.file_list}" > "$OUT"
    - shell: "git -C ${merge.worktree} log -1 --format=%s > \\"$OUT.log\\""
  timeout: 60
env:
  OUT: "{out}"
"""


def test_a_merge_block_runs_instead_with_the_merge_variables(tmp_path: Path) -> None:
    out = tmp_path / "merge.out"
    repo = repo_with(tmp_path, MERGE_BLOCK.replace("{out}", str(out)))
    start = git(repo, "rev-parse", "main")
    interaction = ScriptedInteraction([])  # auto isolates it (a merge block); nothing asked
    assert run(repo, tmp_path, interaction, job_id="b") == 0
    assert interaction.prompts == []
    assert out.read_text().split() == [
        "mapreduce-fsm/b/session", "main", "b", "3", "3", "f-1.txt,f-2.txt,f-3.txt"]
    assert Path(f"{out}.log").read_text().startswith("Merge item")
    assert git(repo, "rev-parse", "main") == start  # the block did not merge: main is as it was
    assert worktrees(repo) == [str(repo)]


def test_validate_knows_the_merge_variables_the_merge_phase_gives(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, COMMITTING)
    session = asyncio.run(open_session(tmp_path / "job", job_id="v", cwd=repo))
    assert tuple(asyncio.run(merge_variables(session, "v"))) == MERGE_VARIABLES


def test_without_isolation_the_merge_phase_is_not_there(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, COMMITTING)
    assert run(repo, tmp_path, ScriptedInteraction([]), job_id="n",
               options=RunOptions(isolation="none", max_parallel=1)) == 0
    checkpoint = JobStore(tmp_path / "state", "n").load_checkpoint()
    assert checkpoint is not None and "merge" not in checkpoint.phase_order
    # the agents committed straight onto main, as before isolation existed
    assert sorted(s for s in subjects(repo, "main") if s.startswith("item")) == [
        "item 1", "item 2", "item 3"]


def test_a_job_id_whose_session_branch_exists_is_refused_before_the_job_exists(
        tmp_path: Path) -> None:
    repo = repo_with(tmp_path, COMMITTING)
    git(repo, "branch", "mapreduce-fsm/again/session")  # left by an earlier job "again"
    with pytest.raises(UsageError, match="exists already, left by an earlier job"):
        run(repo, tmp_path, ScriptedInteraction([]), job_id="again")
    assert not (tmp_path / "state" / "jobs" / "again").exists()
