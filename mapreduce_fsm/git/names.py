"""Branch names and places of a job's worktrees: everything lives under the job directory."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

BRANCH_PREFIX = "mapreduce-fsm"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def ref_component(text: str) -> str:
    """`text` made a safe git ref component; a changed text gets a short hash to stay unique."""
    safe = _UNSAFE.sub("-", text).strip("-") or "x"
    if safe != text:
        safe += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return safe


def session_branch(job_id: str) -> str:
    return f"{BRANCH_PREFIX}/{ref_component(job_id)}/session"


def item_branches(job_id: str) -> str:
    """Where the job's item branches live: `refs/heads/<this>/<item>`."""
    return f"{BRANCH_PREFIX}/{ref_component(job_id)}/item"


def item_branch(job_id: str, item_id: str) -> str:
    return f"{item_branches(job_id)}/{ref_component(item_id)}"


def worktrees_dir(job_dir: Path) -> Path:
    return job_dir / "worktrees"


def session_worktree(job_dir: Path) -> Path:
    return worktrees_dir(job_dir) / "session"


def git_state_dir(job_dir: Path) -> Path:
    """Where the job's git records live (session.json, merges.jsonl)."""
    return job_dir / "git"
