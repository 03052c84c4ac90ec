"""Bringing the session branch home: what it holds, and merging it into the starting branch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mapreduce_fsm.errors import MapReduceError
from mapreduce_fsm.git.command import GitError, git
from mapreduce_fsm.git.session import GitSession

_FIELD = "\x1f"


async def merge_variables(session: GitSession, job_id: str) -> dict[str, Any]:
    """`${merge.*}`: the session's commits and files not yet on the starting point."""
    base = session.start_branch or session.start_commit
    cwd = Path(session.worktree)
    log = await git("log", "--no-merges", f"--format=%H{_FIELD}%h{_FIELD}%an{_FIELD}%s",
                    f"{base}..{session.branch}", cwd=cwd)
    commits = []
    for line in log.splitlines():
        commit_id, short_id, author, subject = line.split(_FIELD, 3)
        commits.append({"id": commit_id, "short_id": short_id, "author": author,
                        "subject": subject})
    diff = await git("diff", "--name-only", f"{base}...{session.branch}", cwd=cwd)
    files = [line for line in diff.splitlines() if line]
    return {
        "worktree": session.worktree,
        "source_branch": session.branch,
        "target_branch": session.start_branch or "",
        "session_id": job_id,
        "commits": commits,
        "commit_count": len(commits),
        "commit_ids": ",".join(commit["id"] for commit in commits),
        "modified_files": files,
        "file_count": len(files),
        "file_list": ",".join(files),
    }


async def merge_into_start_branch(session: GitSession, job_id: str) -> str:
    """Merge the session branch into the branch the run started from, in the user's tree.

    MapReduceError naming the branch that holds the work when that cannot be done.
    """
    root = Path(session.repo_root)
    keep = f"the work stays on branch {session.branch}"
    if session.start_branch is None:
        raise MapReduceError(
            f"the run started on a detached HEAD, so there is no branch to merge into; {keep}")
    current = (await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root,
                         check=False)).strip()
    if current != session.start_branch:
        raise MapReduceError(
            f"the merge goes into {session.start_branch}, the branch the run started on, "
            f"but {root} has {current or 'a detached HEAD'} checked out; check out "
            f"{session.start_branch} and resume the job; {keep}")
    try:
        await git("merge", "--no-edit", "-m", f"Merge mapreduce-fsm job {job_id}",
                  session.branch, cwd=root, identity=True)
    except GitError as error:
        conflicts = await git("diff", "--name-only", "--diff-filter=U", cwd=root, check=False)
        await git("merge", "--abort", cwd=root, check=False)
        paths = ", ".join(conflicts.split())
        why = f"conflicts on {paths}" if paths else str(error)
        raise MapReduceError(
            f"merging {session.branch} into {session.start_branch} failed: {why}; {keep}"
        ) from None
    return (await git("rev-parse", "HEAD", cwd=root)).strip()
