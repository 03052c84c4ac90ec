"""`make bench`, section 3: the per-item cost of worktree isolation on a 1,000-file repository.

Per item, isolation costs a pooled worktree reset to the session tip (`checkout -B`,
`clean`) and, for an item that committed, a serialized merge into the session branch.
That is timed with the engine's own classes against one `git worktree add` of the same
repository in the same run; the agent's own edit and commit are outside the timer.
Run alone as `python -m tests.bench_isolation`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mapreduce_fsm.git import SessionMerger, WorktreePool

FILES = 1000
TARGET_RATIO = 0.5
_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=_ENV, check=True, capture_output=True)


def make_repo(root: Path, files: int) -> Path:
    """A repository of `files` small source files in 20 directories, one commit."""
    repo = root / "repo"
    for index in range(files):
        path = repo / f"pkg{index % 20}" / f"module_{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE_{index} = {index}\n" * 20, encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    return repo


def fresh_worktree_secs(repo: Path, root: Path, times: int) -> list[float]:
    """`git worktree add` of the repository, each into a new directory, then removed."""
    walls = []
    for index in range(times):
        path = root / f"fresh-{index}"
        started = time.perf_counter()
        _git(repo, "worktree", "add", "-q", "--detach", str(path), "HEAD")
        walls.append(time.perf_counter() - started)
        _git(repo, "worktree", "remove", "--force", str(path))
    return walls


async def isolation_secs(repo: Path, root: Path, items: int) -> list[float]:
    """Per item: lend a pooled worktree at the session tip, then merge what the item made."""
    session = root / "session"
    _git(repo, "worktree", "add", "-q", "-b", "session", str(session))
    pool = WorktreePool(repo_root=repo, directory=root / "pool", job_id="bench")
    merger = SessionMerger(worktree=session)
    await pool.start()
    first = await pool.acquire("warm-up", await merger.tip())  # the pool's one-time cost
    pool.release(first)
    walls = []
    for index in range(items):
        started = time.perf_counter()
        lease = await pool.acquire(f"item-{index}", await merger.tip())
        reset = time.perf_counter() - started
        target = lease.path / f"pkg{index % 20}" / f"module_{index}.py"  # the agent's work
        target.write_text(f"VALUE_{index} = 'changed'\n", encoding="utf-8")
        (lease.path / "build.log").write_text("untracked junk\n", encoding="utf-8")
        _git(lease.path, "commit", "-q", "-am", f"item {index}")
        started = time.perf_counter()
        outcome = await merger.merge(_head(lease.path), message=f"Merge item-{index}")
        walls.append(reset + time.perf_counter() - started)
        assert outcome.status == "merged", outcome
        pool.release(lease)
    await pool.close()
    return walls


def _head(path: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def report(files: int = FILES, items: int = 20, fresh_runs: int = 5) -> float:
    """Print section 3 of the bench; the ratio isolation / fresh worktree."""
    with tempfile.TemporaryDirectory(prefix="mapreduce-fsm-bench-git-") as scratch:
        root = Path(scratch)
        repo = make_repo(root, files)
        fresh = statistics.median(fresh_worktree_secs(repo, root, fresh_runs))
        per_item = statistics.median(asyncio.run(isolation_secs(repo, root, items)))
    ratio = per_item / fresh
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"3. worktree isolation on a repository of {files} files, median of {items} items")
    print(f"   one `git worktree add`: {ms(fresh)} (median of {fresh_runs})")
    print(f"   isolation per item (pooled reset + merge of its commit): {ms(per_item)}")
    print(f"   ratio {ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    print()
    return ratio


if __name__ == "__main__":
    report()
    sys.exit(0)
