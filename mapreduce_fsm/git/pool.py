"""A pool of item worktrees: made once, then reset for each item instead of made anew.

`git worktree add` costs tens of milliseconds on a small repository and seconds on a
large one; checking a branch out over an existing worktree and cleaning it costs what
differs between the two trees. Each item gets its own branch, made from the session
branch's tip when the item starts.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import attrs

from mapreduce_fsm.git import names
from mapreduce_fsm.git.command import git

POOL_PREFIX = "item-"


@attrs.frozen(kw_only=True)
class ItemWorktree:
    """A worktree lent to one item: where its steps run and the branch they commit on."""

    path: Path
    branch: str
    base: str  # the session tip the branch was made from


@attrs.define
class WorktreePool:
    """Lends worktrees under `<job dir>/worktrees/`; every lent one is reset first."""

    repo_root: Path
    directory: Path
    job_id: str
    # idle worktree -> the branch it still has checked out (git lets one worktree hold a branch)
    _idle: dict[Path, str] = attrs.field(factory=dict)
    _made: int = 0
    # `git worktree add` and `checkout -B` read every worktree's metadata: one at a time, or
    # one reads what another is half-way through writing ("failed to read .../commondir").
    _admin: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def start(self) -> None:
        """Remove worktrees a killed run left: their items run again from a fresh tip."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob(POOL_PREFIX + "*")):
            await git("worktree", "remove", "--force", str(path), cwd=self.repo_root,
                      check=False)
            if path.exists():
                shutil.rmtree(path)
        await git("worktree", "prune", cwd=self.repo_root)

    async def acquire(self, item_id: str, tip: str) -> ItemWorktree:
        """A worktree on the item's branch, reset to `tip`, holding nothing else."""
        branch = names.item_branch(self.job_id, item_id)
        if self._idle:
            holding = [path for path, held in self._idle.items() if held == branch]
            path = holding[0] if holding else next(iter(self._idle))
            held = self._idle.pop(path)
            try:
                async with self._admin:
                    await git("checkout", "--force", "--quiet", "-B", branch, tip, cwd=path)
                await git("clean", "-ffdxq", cwd=path)
            except BaseException:
                self._idle[path] = held
                raise
        else:
            self._made += 1
            path = self.directory / f"{POOL_PREFIX}{self._made}"
            async with self._admin:
                await git("worktree", "add", "--quiet", "-B", branch, str(path), tip,
                          cwd=self.repo_root)
        return ItemWorktree(path=path, branch=branch, base=tip)

    def release(self, worktree: ItemWorktree) -> None:
        self._idle[worktree.path] = worktree.branch

    async def close(self) -> None:
        """Remove every worktree of the pool (their branches stay)."""
        self._idle.clear()
        await self.start()
