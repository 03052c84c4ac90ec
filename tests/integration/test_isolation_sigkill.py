"""SIGKILL of the runner during the map and during an item's merge, then `resume`: every
succeeded item's commits are merged exactly once, and no worktree is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import textwrap
from collections import Counter
from pathlib import Path

from tests.git.repos import IDENTITY, fake_claude, git, make_repo, subjects, worktrees
from tests.integration.conftest import cli_command, cli_env, wait_for

WORKFLOW = """\
name: killed
isolation: worktree
map:
  input: items.json
  max_parallel: {parallel}
  agent_template:
    - shell: "sleep 0.2"
    - claude: "out-${{item}}.txt work of item ${{item}}"
"""
# Holds the first merge that makes a merge commit until the test kills the runner.
HOLD_MERGE_HOOK = """#!/bin/sh
if [ -f "{out}/armed" ]; then rm "{out}/armed"; touch "{out}/in-merge"; sleep 60; fi
"""


def start(tmp_path: Path, items: int, parallel: int) -> tuple[Path, Path, dict[str, str],
                                                               subprocess.Popen[bytes]]:
    out = tmp_path / "out"
    out.mkdir()
    repo = make_repo(tmp_path / "repo", {
        "items.json": json.dumps(list(range(items))),
        "wf.yml": textwrap.dedent(WORKFLOW).format(parallel=parallel),
    })
    env = {**IDENTITY, "MAPREDUCE_FSM_CLAUDE": str(fake_claude(tmp_path)),
           "RAN_LOG": str(out / "ran.log")}
    command = cli_command(("run", "wf.yml", "--job-id", "killed", "--yes"), None)
    process = subprocess.Popen(command, cwd=repo, env=cli_env(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    return repo, out, env, process


def journaled(repo: Path) -> list[str]:
    path = repo / ".mapreduce-fsm" / "jobs" / "killed" / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["item_id"] for line in path.read_text().splitlines()
            if line.endswith("}")]


def kill_run(process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    """SIGKILL the runner's process group, then the agents it left (each in its own group)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "cwd").startswith(str(tmp_path)):
                os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)


def resume(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(("resume", "killed", "--yes"), None), cwd=repo,
                          env=cli_env(env), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, check=False)


def check_merged_exactly_once(repo: Path, items: int) -> None:
    agents = Counter(s for s in subjects(repo, "main", "--no-merges") if s.startswith("agent:"))
    assert agents == Counter({f"agent: out-{n}.txt work of item {n}": 1 for n in range(items)})
    merges = Counter(s.split(" (")[0] for s in subjects(repo, "main", "--merges")
                     if s.startswith("Merge item"))
    assert merges == Counter({f"Merge item item-{n}": 1 for n in range(items)})
    assert {path.name for path in repo.glob("out-*.txt")} == {f"out-{n}.txt"
                                                              for n in range(items)}
    assert worktrees(repo) == [str(repo)]
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_sigkill_during_the_map_then_resume(tmp_path: Path) -> None:
    items = 12
    repo, out, env, process = start(tmp_path, items, parallel=3)
    try:
        wait_for(lambda: len(journaled(repo)) >= 4 or process.poll() is not None,
                 timeout=60, what="four item results")
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        kill_run(process, tmp_path)
    done_before = set(journaled(repo))
    assert len(worktrees(repo)) > 1  # the killed run left its worktrees
    resumed = resume(repo, env)
    assert resumed.returncode == 0, resumed.stderr
    check_merged_exactly_once(repo, items)
    runs = Counter((out / "ran.log").read_text().split())
    assert {item: runs[item] for item in done_before} == {item: 1 for item in done_before}


def test_sigkill_during_an_items_merge_then_resume(tmp_path: Path) -> None:
    items = 5
    repo, out, env, process = start(tmp_path, items, parallel=1)
    hook = repo / ".git" / "hooks" / "pre-merge-commit"
    hook.write_text(HOLD_MERGE_HOOK.format(out=out))
    hook.chmod(0o755)
    (out / "armed").touch()
    try:
        wait_for(lambda: (out / "in-merge").exists() or process.poll() is not None,
                 timeout=60, what="a merge in progress")
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        kill_run(process, tmp_path)
    assert journaled(repo) == []  # the merging item's result was not journaled yet
    resumed = resume(repo, env)
    assert resumed.returncode == 0, resumed.stderr
    check_merged_exactly_once(repo, items)
    # the item caught in its merge was not run again: its merge was finished instead
    runs = Counter((out / "ran.log").read_text().split())
    assert runs == Counter({f"item-{n}": 1 for n in range(items)})


def test_ctrl_c_during_the_map_removes_the_item_worktrees(tmp_path: Path) -> None:
    repo, _, env, process = start(tmp_path, 12, parallel=3)
    try:
        wait_for(lambda: len(journaled(repo)) >= 2 or process.poll() is not None,
                 timeout=60, what="two item results")
        assert process.poll() is None, "the run ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            kill_run(process, tmp_path)
    session = repo / ".mapreduce-fsm" / "jobs" / "killed" / "worktrees" / "session"
    assert worktrees(repo) == [str(repo), str(session)]  # the job's session stays, resumable
    resumed = resume(repo, env)
    assert resumed.returncode == 0, resumed.stderr
    check_merged_exactly_once(repo, 12)
