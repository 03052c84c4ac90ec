"""The session: a worktree on its own branch from the starting HEAD, where the job's work gathers.

Setup, `map.input` and reduce run in it; items merge into its branch; the merge phase
brings its branch home to the branch the run started from. Its record (`git/session.json`
in the job directory) is how a resume, a DLQ retry and the merge phase find it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs

from mapreduce_fsm.convert import from_json, to_json
from mapreduce_fsm.errors import UsageError
from mapreduce_fsm.git import names
from mapreduce_fsm.git.command import git, git_ok, git_sync
from mapreduce_fsm.state.atomic import write_atomic

SESSION_FILE = "session.json"
IGNORE_ALL = "# Written by mapreduce-fsm: job state is not part of the repository.\n*\n"


@attrs.frozen(kw_only=True)
class GitSession:
    """Where the session's work is and where it goes back to."""

    repo_root: str  # the user's work tree the run started in
    subdir: str  # where in it the run started ("" at the root); the job works there too
    start_branch: str | None  # the branch the run started on (None: a detached HEAD)
    start_commit: str
    branch: str  # the session branch
    worktree: str  # the session worktree's path

    @property
    def working_dir(self) -> Path:
        """The job's working directory: the run's directory, inside the session worktree."""
        return Path(self.worktree) / self.subdir

    @staticmethod
    def record_path(job_dir: Path) -> Path:
        return names.git_state_dir(job_dir) / SESSION_FILE

    @classmethod
    def load(cls, job_dir: Path) -> GitSession | None:
        """The job's session, or None when the job runs without isolation."""
        path = cls.record_path(job_dir)
        if not path.is_file():
            return None
        return from_json(path.read_text(encoding="utf-8"), cls)

    def save(self, job_dir: Path) -> None:
        path = self.record_path(job_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, to_json(self))

    async def ensure_worktree(self) -> None:
        """Make the session worktree again if it is gone (the merge phase removed it), and
        its branch from the start commit if a kill came before `open_session` made it."""
        path, root = Path(self.worktree), Path(self.repo_root)
        if (path / ".git").exists():
            return
        if path.exists():
            shutil.rmtree(path)
        await git("worktree", "prune", cwd=root)
        if await git_ok("rev-parse", "--verify", "--quiet", f"refs/heads/{self.branch}",
                        cwd=root):
            await git("worktree", "add", str(path), self.branch, cwd=root)
        else:
            await git("worktree", "add", "-b", self.branch, str(path), self.start_commit,
                      cwd=root)

    async def repair(self) -> None:
        """Undo what a killed run left in the session worktree: a half-done merge, a lock."""
        path = Path(self.worktree)
        git_dir = Path((await git("rev-parse", "--absolute-git-dir", cwd=path)).strip())
        (git_dir / "index.lock").unlink(missing_ok=True)  # the job lock says nobody else is here
        if (git_dir / "MERGE_HEAD").exists():
            await git("merge", "--abort", cwd=path)

    async def remove_worktree(self) -> None:
        """Remove the session worktree (its branch stays, holding the work)."""
        root = Path(self.repo_root)
        if Path(self.worktree).exists():
            await git("worktree", "remove", "--force", self.worktree, cwd=root)
        await git("worktree", "prune", cwd=root)


def ignore_state_dir(state_dir: Path) -> None:
    """Keep job state out of `git status` and `git add -A`, as virtual environments do.

    Best effort: a state dir that cannot be written is reported when the job is created.
    """
    marker = state_dir / ".gitignore"
    try:
        if not marker.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(IGNORE_ALL, encoding="utf-8")
    except OSError:
        pass


def check_session_branch_free(cwd: Path, job_id: str) -> None:
    """UsageError when the job's session branch exists already (an earlier job of that id)."""
    branch = names.session_branch(job_id)
    if git_sync("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=cwd):
        raise UsageError(
            f"the branch {branch} exists already, left by an earlier job with the id "
            f"{job_id}; it may hold that job's work. Delete it (git branch -D {branch}) "
            "or choose another --job-id"
        )


async def open_session(job_dir: Path, *, job_id: str, cwd: Path) -> GitSession:
    """Create the session worktree and branch from the current HEAD of `cwd`'s repository."""
    cwd = cwd.resolve()
    root = Path((await git("rev-parse", "--show-toplevel", cwd=cwd)).strip())
    if not await git_ok("rev-parse", "--verify", "--quiet", "HEAD", cwd=root):
        raise UsageError(
            f"worktree isolation needs a commit to start from, but the repository {root} "
            "has none yet; commit something first, or use --isolation none"
        )
    start_commit = (await git("rev-parse", "HEAD", cwd=root)).strip()
    branch_name = (await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root,
                             check=False)).strip()
    session = GitSession(
        repo_root=str(root),
        subdir=str(cwd.relative_to(root)) if cwd != root else "",
        start_branch=branch_name or None,
        start_commit=start_commit,
        branch=names.session_branch(job_id),
        worktree=str(names.session_worktree(job_dir)),
    )
    names.worktrees_dir(job_dir).mkdir(parents=True, exist_ok=True)
    session.save(job_dir)  # first: a crash right after leaves a worktree that clean can find
    await git("worktree", "add", "-b", session.branch, session.worktree, start_commit, cwd=root)
    return session


async def reopen_session(job_dir: Path, *, job_id: str, cwd: Path) -> GitSession:
    """The session of a job killed before its first checkpoint, its worktree ready.

    The kill may have come before the session was recorded (it is opened now, from
    `cwd`, where the run started) or before its worktree or branch were made (made now).
    """
    session = GitSession.load(job_dir)
    if session is None:
        return await open_session(job_dir, job_id=job_id, cwd=cwd)
    await session.ensure_worktree()
    await session.repair()
    return session
