"""What the map does under worktree isolation: lend each item a worktree, merge what it made.

`ItemIsolation.run` wraps one work order: a pooled worktree on the item's branch, reset
to the session tip; the order runs there; a succeeded item's commits are merged into the
session branch (serialized) before the map journals its result. A merge that fails
fails the item, naming the conflicting paths; the item's branch keeps its commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path

import attrs

from mapreduce_fsm.agents import ItemOutcome
from mapreduce_fsm.agents.order import WorkOrder
from mapreduce_fsm.convert import converter
from mapreduce_fsm.git import names
from mapreduce_fsm.git.command import git
from mapreduce_fsm.git.merges import (
    MERGES_FILE,
    MergeIntent,
    MergeIntents,
    SessionMerger,
    live_intents,
)
from mapreduce_fsm.git.pool import ItemWorktree, WorktreePool
from mapreduce_fsm.git.session import GitSession

RunOrder = Callable[[WorkOrder], Awaitable[ItemOutcome]]


@attrs.define
class ItemIsolation:
    """The session, the worktree pool and the merger of one job's map."""

    session: GitSession
    pool: WorktreePool
    merger: SessionMerger
    intents: MergeIntents

    @classmethod
    def for_job(cls, session: GitSession, job_dir: Path, job_id: str) -> ItemIsolation:
        return cls(
            session=session,
            pool=WorktreePool(repo_root=Path(session.repo_root),
                              directory=names.worktrees_dir(job_dir), job_id=job_id),
            merger=SessionMerger(worktree=Path(session.worktree)),
            intents=MergeIntents(names.git_state_dir(job_dir) / MERGES_FILE),
        )

    async def prepare_session(self) -> None:
        """The session worktree exists and holds no half-done merge (before the input is read)."""
        await self.session.ensure_worktree()
        await self.session.repair()

    async def start(self) -> None:
        await self.pool.start()

    async def close(self) -> None:
        """Remove the item worktrees, and the item branches merged into the session branch.

        A branch that is not merged (its item's merge conflicted) stays for inspection.
        """
        await self.pool.close()
        prefix = f"refs/heads/{names.item_branches(self.pool.job_id)}/"
        listed = await git("for-each-ref", "--format=%(refname:short)", prefix,
                           cwd=Path(self.session.worktree))
        branches = listed.split()
        if branches:  # `-d` deletes only what HEAD (the session branch) holds
            await git("branch", "-d", "--quiet", *branches, cwd=Path(self.session.worktree),
                      check=False)

    async def recover(
        self, finished: Collection[str], failed_attempts: Mapping[str, int]
    ) -> list[ItemOutcome]:
        """Succeeded items whose merge a crash cut: finish each merge; their outcomes to journal.

        An item whose merge now fails is not returned: it has no result and runs again.
        """
        recovered = []
        live = live_intents(self.intents.load(), set(finished), dict(failed_attempts))
        if live:
            # A merge killed before its commit leaves its result staged (MERGE_HEAD is
            # written only when git stops on a conflict): put the index back to HEAD.
            await git("reset", "--merge", "--quiet", "HEAD", cwd=Path(self.session.worktree))
        for intent in live:
            merged = await self.merger.merge(intent.commit, message=self._message(
                intent.item_id, intent.branch))
            if merged.status != "failed":
                recovered.append(converter.structure(intent.outcome, ItemOutcome))
        return recovered

    async def run(self, order: WorkOrder, run: RunOrder) -> ItemOutcome:
        """Run `order` in a worktree of its own; merge its commits when it succeeds."""
        lease = await self.pool.acquire(order.item_id, await self.merger.tip())
        try:
            cwd = lease.path / self.session.subdir
            outcome = await run(attrs.evolve(order, cwd=str(cwd)))
            if outcome.result.status != "success":
                return outcome
            return await self._merge(order, lease, outcome)
        finally:
            self.pool.release(lease)

    async def _merge(self, order: WorkOrder, lease: ItemWorktree,
                     outcome: ItemOutcome) -> ItemOutcome:
        commit = (await git("rev-parse", "HEAD", cwd=lease.path)).strip()
        if commit == lease.base:
            return outcome  # no commits: nothing to merge
        self.intents.append(MergeIntent(
            item_id=order.item_id, attempt=order.attempt, branch=lease.branch, commit=commit,
            outcome=converter.unstructure(outcome),
        ))
        merged = await self.merger.merge(commit, message=self._message(order.item_id,
                                                                        lease.branch))
        if merged.status != "failed":
            return outcome
        error = (f"merging its branch {lease.branch} into the session branch "
                 f"{self.session.branch} failed: {merged.error}; the branch keeps the "
                 "item's commits")
        result = attrs.evolve(outcome.result, status="failed", error=error,
                              failed_step="merge")
        return attrs.evolve(outcome, result=result, stderr_tail=merged.error or "")

    @staticmethod
    def _message(item_id: str, branch: str) -> str:
        return f"Merge item {item_id} ({branch})"
