"""Running the `git` program: async for the map, sync for decisions made before a run starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from mapreduce_fsm.errors import MapReduceError

# Used for merge commits only when the user has no identity configured (CI, containers).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "mapreduce-fsm", "GIT_AUTHOR_EMAIL": "mapreduce-fsm@localhost",
    "GIT_COMMITTER_NAME": "mapreduce-fsm", "GIT_COMMITTER_EMAIL": "mapreduce-fsm@localhost",
}


class GitError(MapReduceError):
    """A git command failed; the message names the command, the directory and git's words."""

    def __init__(self, args: tuple[str, ...], cwd: Path, code: int, stderr: str) -> None:
        words = " ".join(stderr.split()) or f"exit code {code}"
        super().__init__(f"`git {' '.join(args)}` in {cwd} failed: {words}")
        self.code = code
        self.stderr = stderr


def _env() -> dict[str, str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # from a hook, say: not ours
        env.pop(name, None)
    return env


async def git(*args: str, cwd: Path, check: bool = True, identity: bool = False) -> str:
    """Run `git ARGS` in `cwd` and return its stdout; GitError when it fails and `check`.

    Cancelling the caller kills git: a merge left half-done is repaired by the next run.
    """
    env = _env()
    if identity and not await _has_identity(cwd):
        env = {**FALLBACK_IDENTITY, **env}
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if check and process.returncode != 0:
        raise GitError(args, cwd, process.returncode or 0, stderr.decode(errors="replace"))
    return stdout.decode(errors="replace")


async def git_ok(*args: str, cwd: Path) -> bool:
    """Whether `git ARGS` exits 0 (for questions such as `merge-base --is-ancestor`)."""
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return await process.wait() == 0


async def _has_identity(cwd: Path) -> bool:
    return await git_ok("var", "GIT_COMMITTER_IDENT", cwd=cwd)


def git_sync(*args: str, cwd: Path) -> str | None:
    """`git ARGS` in `cwd`, stdout stripped; None when git fails or is not installed."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None
