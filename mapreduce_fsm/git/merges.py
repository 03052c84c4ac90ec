"""Merging a succeeded item's branch into the session branch: one at a time, recorded first.

Before a merge starts, an intent (item, attempt, commit, and the item's outcome) is
appended to `git/merges.jsonl` and flushed to disk. The item's result is journaled only
after the merge. So after a crash anywhere in between, the intent says which item was
being merged and with what result: a resume finishes that merge (or sees, by
`git merge-base --is-ancestor`, that it was done) and journals the result, instead of
running the item again. Every succeeded item's commits are merged exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import attrs

from mapreduce_fsm.convert import compact_json, converter
from mapreduce_fsm.git.command import GitError, git, git_ok

MERGES_FILE = "merges.jsonl"
MergeStatus = Literal["merged", "nothing", "failed"]


@attrs.frozen(kw_only=True)
class MergeOutcome:
    """What merging one item did: merged, nothing to merge, or failed (a conflict, say)."""

    status: MergeStatus
    conflicts: tuple[str, ...] = ()  # the conflicting paths, when that is why it failed
    error: str | None = None


@attrs.frozen(kw_only=True)
class MergeIntent:
    """Written before an item's merge: enough to finish it and journal its result after a crash."""

    item_id: str
    attempt: int
    branch: str
    commit: str  # the item branch's tip to merge
    outcome: dict[str, Any]  # the item's ItemOutcome, unstructured


@attrs.define
class MergeIntents:
    """The append-only file of merge intents, fsynced line by line."""

    path: Path

    def append(self, intent: MergeIntent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = compact_json(converter.unstructure(intent)) + "\n"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # a crash tore the last line: start a new one
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self) -> list[MergeIntent]:
        """Every complete intent; a line torn by a crash is the last and is dropped."""
        if not self.path.is_file():
            return []
        intents = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                intents.append(converter.structure(json.loads(line), MergeIntent))
            except (ValueError, TypeError, KeyError):
                continue
        return intents


@attrs.define
class SessionMerger:
    """Merges item commits into the session branch, in the session worktree, one at a time."""

    worktree: Path
    _lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def tip(self) -> str:
        return (await git("rev-parse", "HEAD", cwd=self.worktree)).strip()

    async def merge(self, commit: str, *, message: str) -> MergeOutcome:
        """Merge `commit` into the session branch; a conflict is aborted and reported."""
        async with self._lock:
            if await git_ok("merge-base", "--is-ancestor", commit, "HEAD", cwd=self.worktree):
                return MergeOutcome(status="nothing")  # no commits, or merged before a crash
            try:
                await git("merge", "--no-ff", "--no-edit", "-m", message, commit,
                          cwd=self.worktree, identity=True)
            except GitError as error:
                conflicts = await self._conflicting_paths()
                await git("merge", "--abort", cwd=self.worktree, check=False)
                if conflicts:
                    return MergeOutcome(status="failed", conflicts=conflicts,
                                        error="conflicts on " + ", ".join(conflicts))
                return MergeOutcome(status="failed", error=str(error))
            return MergeOutcome(status="merged")

    async def _conflicting_paths(self) -> tuple[str, ...]:
        text = await git("diff", "--name-only", "--diff-filter=U", cwd=self.worktree,
                         check=False)
        return tuple(line for line in text.splitlines() if line)


def live_intents(intents: Iterable[MergeIntent], finished: set[str],
                 failed_attempts: dict[str, int]) -> list[MergeIntent]:
    """Intents whose item has no journaled result and no later failed attempt: a crash cut them.

    `failed_attempts` maps an item to its highest recorded failed attempt; an intent of
    that attempt or an earlier one was settled (a conflict, a retry).
    """
    latest: dict[str, MergeIntent] = {}
    for intent in intents:
        if intent.item_id in finished or failed_attempts.get(intent.item_id, 0) >= intent.attempt:
            continue
        latest[intent.item_id] = intent
    return list(latest.values())
