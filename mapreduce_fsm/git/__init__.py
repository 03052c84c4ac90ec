"""Git worktree isolation: the session worktree, the pool of item worktrees, serialized merges."""

from mapreduce_fsm.git.command import GitError
from mapreduce_fsm.git.isolation import ItemIsolation
from mapreduce_fsm.git.merges import MergeOutcome, SessionMerger
from mapreduce_fsm.git.plan import IsolationPlan, decide_isolation, workflow_wants_isolation
from mapreduce_fsm.git.pool import ItemWorktree, WorktreePool
from mapreduce_fsm.git.session import GitSession, open_session

__all__ = [
    "GitError",
    "GitSession",
    "IsolationPlan",
    "ItemIsolation",
    "ItemWorktree",
    "MergeOutcome",
    "SessionMerger",
    "WorktreePool",
    "decide_isolation",
    "open_session",
    "workflow_wants_isolation",
]
