"""Worktree isolation through the command line, in real git repositories, with an agent that
commits (a fake `claude` on $MAPREDUCE_FSM_CLAUDE that edits a file and commits)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections import Counter
from pathlib import Path

from tests.git.repos import IDENTITY, fake_claude, git, make_repo, subjects, worktrees
from tests.integration.conftest import CLI_TIMEOUT_SECS, cli_command, cli_env

TWENTY = """\
name: twenty
isolation: worktree
env:
  OUT: "{out}"
map:
  input: items.json
  max_parallel: 4
  agent_template:
    - claude: "out-${{item}}.txt work of item ${{item}}"
reduce:
  - shell: "git rev-parse main > $OUT/main-at-reduce; ls > $OUT/session-files"
"""


def run_cli(repo: Path, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`mapreduce-fsm ARGS` in `repo`, its state in the default `.mapreduce-fsm` there."""
    return subprocess.run(cli_command(args, None), cwd=repo, env=cli_env(env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_SECS, check=False)


def setup_repo(tmp_path: Path, workflow: str, items: object,
               files: dict[str, str] | None = None) -> tuple[Path, dict[str, str]]:
    out = tmp_path / "out"
    out.mkdir()
    repo = make_repo(tmp_path / "repo", {
        **(files or {"README": "hello\n"}),
        "items.json": json.dumps(items),
        "wf.yml": textwrap.dedent(workflow).format(out=out),
    })
    env = {**IDENTITY, "MAPREDUCE_FSM_CLAUDE": str(fake_claude(tmp_path)),
           "RAN_LOG": str(out / "ran.log")}
    return repo, env


def test_twenty_committing_agents_all_reach_the_session_and_then_the_start_branch(
        tmp_path: Path) -> None:
    repo, env = setup_repo(tmp_path, TWENTY, list(range(20)))
    out = tmp_path / "out"
    started_at = git(repo, "rev-parse", "main")
    done = run_cli(repo, "run", "wf.yml", "--job-id", "twenty", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert "index.lock" not in done.stderr
    assert "isolation: worktree (the workflow says isolation: worktree)" in done.stderr
    agent_commits = [f"agent: out-{n}.txt work of item {n}" for n in range(20)]
    session = subjects(repo, "mapreduce-fsm/twenty/session", "--no-merges")
    assert sorted(subject for subject in session if subject.startswith("agent:")) == sorted(
        agent_commits)
    # the starting branch and the user's tree were untouched until the merge phase
    assert (out / "main-at-reduce").read_text().strip() == started_at
    assert all(f"out-{n}.txt" in (out / "session-files").read_text() for n in range(20))
    # after it (--yes), the starting branch holds all twenty
    assert Counter(subjects(repo, "main")) >= Counter(agent_commits)
    assert {path.name for path in repo.glob("out-*.txt")} == {f"out-{n}.txt" for n in range(20)}
    assert (repo / "out-7.txt").read_text() == "work of item 7\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert worktrees(repo) == [str(repo)]  # item worktrees and the session worktree gone
    assert git(repo, "branch", "--list", "mapreduce-fsm/twenty/item/*") == ""  # merged: gone


def test_job_state_is_never_committed_by_a_steps_git_add(tmp_path: Path) -> None:
    workflow = """\
    name: addall
    isolation: none
    setup:
      - shell: "echo made > made.txt && git add -A && git commit -q -m setup"
    map:
      input: items.json
      agent_template:
        - shell: "echo ${{item}}"
    """
    repo, env = setup_repo(tmp_path, workflow, [1, 2])
    done = run_cli(repo, "run", "wf.yml", "--job-id", "addall", env=env)
    assert done.returncode == 0, done.stderr
    committed = git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    assert "made.txt" in committed
    assert not [path for path in committed if path.startswith(".mapreduce-fsm")]
    assert (repo / ".mapreduce-fsm" / "jobs" / "addall" / "checkpoint.json").is_file()
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


CONFLICT = """\
name: clash
isolation: worktree
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "sleep 0.5"
    - claude: "shared.txt ${{item.text}}"
"""


def test_a_conflict_fails_the_item_naming_the_path_and_dlq_retry_merges_it(
        tmp_path: Path) -> None:
    items = [{"text": "from a"}, {"text": "from b"}]
    repo, env = setup_repo(tmp_path, CONFLICT, items, {"shared.txt": "base\n"})
    done = run_cli(repo, "run", "wf.yml", "--job-id", "clash", "--yes", env=env)
    assert done.returncode in (0, 4), done.stderr  # 4: completed with failed items
    assert "1 failed" in done.stderr
    listed = run_cli(repo, "dlq", "list", "clash", "--json")
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(entries) == 1
    failed = entries[0]["item_id"]
    error = entries[0]["last_error"]
    assert "conflicts on shared.txt" in error
    assert f"mapreduce-fsm/clash/item/{failed}" in error  # the branch that is kept
    kept = git(repo, "log", "-1", "--format=%s", f"mapreduce-fsm/clash/item/{failed}")
    assert kept.startswith("agent: shared.txt")
    assert git(repo, "branch", "--list", "mapreduce-fsm/clash/item/*").split() == [
        f"mapreduce-fsm/clash/item/{failed}"]  # only the unmerged branch is kept
    winner = (repo / "shared.txt").read_text()
    assert winner in ("from a\n", "from b\n")
    retried = run_cli(repo, "dlq", "retry", "clash", "--yes", env=env)
    assert retried.returncode == 0, retried.stderr
    assert run_cli(repo, "dlq", "list", "clash", "--json").stdout.strip() == ""
    # the retry ran from the new session tip: its commit follows the winner's
    loser = ({"from a\n", "from b\n"} - {winner}).pop()
    assert (repo / "shared.txt").read_text() == loser
    agents = [s for s in subjects(repo, "main", "--no-merges") if s.startswith("agent:")]
    assert Counter(agents)[f"agent: shared.txt {loser.strip()}"] == 1  # the conflict never merged
    assert worktrees(repo) == [str(repo)]


DRY = """\
name: dry
map:
  input: items.json
  agent_template:
    - shell: "echo ${{item}}"
merge:
  - shell: "echo ${{merge.commit_count}}"
"""


def test_dry_run_says_which_isolation_applies_and_why(tmp_path: Path) -> None:
    repo, env = setup_repo(tmp_path, DRY, [1])
    inside = run_cli(repo, "run", "wf.yml", "--dry-run", env=env)
    assert inside.returncode == 0, inside.stderr
    assert (f"isolation: worktree (auto: the workflow has a merge block, in the git work "
            f"tree {repo})") in inside.stdout
    assert "  4. merge\n       - shell: echo ${merge.commit_count}" in inside.stdout
    off = run_cli(repo, "run", "wf.yml", "--dry-run", "--isolation", "none", env=env)
    assert "isolation: none (--isolation none)" in off.stdout
    assert "merge" not in off.stdout.split("plan:")[1]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "wf.yml").write_text((repo / "wf.yml").read_text())
    (outside / "items.json").write_text((repo / "items.json").read_text())
    plain = run_cli(outside, "run", "wf.yml", "--dry-run", env=env)
    assert f"isolation: none (auto: {outside} is not in a git work tree)" in plain.stdout
    forced = run_cli(outside, "run", "wf.yml", "--isolation", "worktree", env=env)
    assert forced.returncode == 2
    assert "needs a git work tree" in forced.stderr and "Traceback" not in forced.stderr


def test_the_diagram_shows_the_merge_phase(tmp_path: Path) -> None:
    repo, env = setup_repo(tmp_path, DRY, [1])
    drawn = run_cli(repo, "diagram", "wf.yml", env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert "reduce --> merge" in drawn.stdout and "merge --> completed" in drawn.stdout
