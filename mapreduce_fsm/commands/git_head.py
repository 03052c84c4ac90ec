"""Reading HEAD of a step's working directory, for `commit_required`."""

from __future__ import annotations

from pathlib import Path

from mapreduce_fsm.commands.context import StepContext
from mapreduce_fsm.commands.process import run_process

_GIT_TIMEOUT_SECS = 30.0


class NotAGitWorkTree(Exception):
    """The directory is not inside a git work tree (or git cannot run); says which."""


async def read_head(cwd: Path, context: StepContext) -> str | None:
    """The commit HEAD names in `cwd`, or None in a repository with no commit yet."""
    outcome = await run_process(
        ("git", "rev-parse", "--verify", "-q", "HEAD"),
        cwd=cwd,
        env=context.process_env({}),
        timeout=_GIT_TIMEOUT_SECS,
        max_output_bytes=4096,
        kill_grace_secs=context.kill_grace_secs,
    )
    if outcome.start_error is not None:
        raise NotAGitWorkTree(f"git cannot run in {cwd}: {outcome.start_error}")
    if outcome.exit_code == 0:
        return outcome.stdout.strip()
    if outcome.exit_code == 1:  # a work tree whose branch has no commit yet
        return None
    raise NotAGitWorkTree(f"{cwd} is not in a git work tree")
