"""Real git repositories in temporary directories, and what the tests ask of them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}

# An agent as Claude Code is one: it edits a file and commits, in its working directory.
# The prompt (the last argument) is "FILE TEXT": TEXT becomes FILE's content.
FAKE_CLAUDE = """#!/bin/sh
for last; do :; done
file=${last%% *}
text=${last#* }
printf '%s\\n' "$text" > "$file"
git add -A && git commit -q -m "agent: $last"
if [ -n "$RAN_LOG" ]; then echo "$ITEM_ID" >> "$RAN_LOG"; fi
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True, env={**os.environ, **IDENTITY})
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository on branch main with one commit of `files` (a README by default)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    for name, text in (files or {"README": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def fake_claude(directory: Path) -> Path:
    script = directory / "fake-claude"
    script.write_text(FAKE_CLAUDE, encoding="utf-8")
    script.chmod(0o755)
    return script


def worktrees(repo: Path) -> list[str]:
    """The paths `git worktree list` shows, the main one first."""
    return [line.removeprefix("worktree ")
            for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def subjects(repo: Path, ref: str, *extra: str) -> list[str]:
    return git(repo, "log", "--format=%s", *extra, ref).splitlines()
