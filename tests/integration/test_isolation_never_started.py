"""A job under worktree isolation killed before its first checkpoint: `resume` starts it in
its session worktree (made if missing), never in the user's checkout; in real git repositories."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mapreduce_fsm.git import names
from mapreduce_fsm.jobs import run as jobs_run
from mapreduce_fsm.jobs.run import resume_async, run_async
from mapreduce_fsm.phases.coordinator import PhaseCoordinator
from tests.git.repos import IDENTITY, git, make_repo, worktrees

# setup records where its steps ran: the directory, and the branch checked out there.
WORKFLOW = """\
name: early
isolation: worktree
setup:
  - shell: "pwd > {out}/setup-cwd; git rev-parse --abbrev-ref HEAD > {out}/setup-branch"
map:
  input: items.json
  agent_template:
    - shell: "echo ${{item}}"
"""


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def killed(*args: object, **kwargs: object) -> None:
    raise Killed


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "out").mkdir()
    return make_repo(tmp_path / "repo", {
        "items.json": json.dumps(["a", "b"]),
        "wf.yml": WORKFLOW.format(out=tmp_path / "out"),
    })


def start_killed(repo: Path, monkeypatch: pytest.MonkeyPatch, where: object, name: str) -> Path:
    """`run` of the workflow, killed at `where.name`; the job's directory."""
    state = repo.parent / "state"
    with monkeypatch.context() as patch:
        patch.setattr(where, name, killed)
        with pytest.raises(Killed):
            asyncio.run(run_async(repo / "wf.yml", job_id="early", state_dir=state,
                                  working_dir=repo, environ={}))
    job_dir = state / "jobs" / "early"
    assert not (job_dir / "checkpoint.json").exists()  # killed before its first checkpoint
    return job_dir


def resume_from_the_checkout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)  # the user resumes from their own checkout
    result = asyncio.run(resume_async("early", state_dir=repo.parent / "state", environ={}))
    assert result.state == "completed", result.error


def check_setup_ran_in_the_session(repo: Path, job_dir: Path) -> None:
    out = repo.parent / "out"
    assert (out / "setup-cwd").read_text().strip() == str(names.session_worktree(job_dir))
    assert (out / "setup-branch").read_text().strip() == names.session_branch("early")
    assert worktrees(repo) == [str(repo)]  # the merge phase removed the session worktree
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_killed_after_its_session_was_opened(repo: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    job_dir = start_killed(repo, monkeypatch, PhaseCoordinator, "execute_workflow")
    assert (names.session_worktree(job_dir) / ".git").exists()

    resume_from_the_checkout(repo, monkeypatch)

    check_setup_ran_in_the_session(repo, job_dir)


def test_killed_before_its_session_was_opened(repo: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    job_dir = start_killed(repo, monkeypatch, jobs_run, "open_session")
    assert not (job_dir / "git").exists()  # no session record, no worktree

    resume_from_the_checkout(repo, monkeypatch)

    check_setup_ran_in_the_session(repo, job_dir)


def test_killed_before_its_session_worktree_and_branch_were_made(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job_dir = start_killed(repo, monkeypatch, PhaseCoordinator, "execute_workflow")
    git(repo, "worktree", "remove", "--force", str(names.session_worktree(job_dir)))
    git(repo, "branch", "-D", names.session_branch("early"))  # only the record is left

    resume_from_the_checkout(repo, monkeypatch)

    check_setup_ran_in_the_session(repo, job_dir)
