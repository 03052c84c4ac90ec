"""The item worktree pool: each lent worktree is on the item's branch at the tip, and clean."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mapreduce_fsm.git import WorktreePool
from mapreduce_fsm.git.names import item_branch
from tests.git.repos import git, make_repo, worktrees


def pool_for(repo: Path, tmp_path: Path) -> WorktreePool:
    return WorktreePool(repo_root=repo, directory=tmp_path / "job" / "worktrees", job_id="j")


def test_a_reused_worktree_holds_nothing_of_the_item_before(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    tip = git(repo, "rev-parse", "HEAD")
    pool = pool_for(repo, tmp_path)

    async def scenario() -> None:
        await pool.start()
        first = await pool.acquire("item-0", tip)
        (first.path / "a.txt").write_text("changed\n")  # an uncommitted edit
        (first.path / "junk").mkdir()
        (first.path / "junk" / "x.o").write_text("untracked\n")
        (first.path / "new.txt").write_text("new\n")
        git(first.path, "add", "new.txt")
        git(first.path, "commit", "-q", "-m", "item 0's commit")
        pool.release(first)
        second = await pool.acquire("item-1", tip)
        assert second.path == first.path  # reused, not made anew
        assert git(second.path, "rev-parse", "HEAD") == tip
        assert git(second.path, "symbolic-ref", "--short", "HEAD") == item_branch("j", "item-1")
        assert git(second.path, "status", "--porcelain", "--ignored") == ""
        assert sorted(p.name for p in second.path.iterdir()) == [".git", "a.txt"]
        # item 0's branch keeps its commit for inspection
        assert git(repo, "log", "-1", "--format=%s", item_branch("j", "item-0")) == (
            "item 0's commit")
        pool.release(second)
        await pool.close()

    asyncio.run(scenario())
    assert worktrees(repo) == [str(repo)]


def test_an_item_again_gets_the_worktree_that_holds_its_branch(tmp_path: Path) -> None:
    """git lets one worktree hold a branch: a retried item must not ask for it elsewhere."""
    repo = make_repo(tmp_path / "repo")
    tip = git(repo, "rev-parse", "HEAD")
    pool = pool_for(repo, tmp_path)

    async def scenario() -> None:
        await pool.start()
        a, b = await pool.acquire("a", tip), await pool.acquire("b", tip)
        pool.release(a)
        pool.release(b)
        again = await pool.acquire("a", tip)
        assert again.path == a.path
        other = await pool.acquire("c", tip)
        assert other.path == b.path
        await pool.close()

    asyncio.run(scenario())


def test_start_removes_worktrees_a_killed_run_left(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    tip = git(repo, "rev-parse", "HEAD")
    pool = pool_for(repo, tmp_path)

    async def leave_one() -> None:
        await pool.start()
        await pool.acquire("a", tip)  # never released: the run "died"

    asyncio.run(leave_one())
    assert len(worktrees(repo)) == 2
    asyncio.run(pool_for(repo, tmp_path).start())
    assert worktrees(repo) == [str(repo)]
