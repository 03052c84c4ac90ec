"""Merging items into the session branch: serialized, idempotent, conflicts named and aborted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mapreduce_fsm.git import SessionMerger
from mapreduce_fsm.git.merges import MergeIntent, MergeIntents, live_intents
from tests.git.repos import git, make_repo, subjects


def branch_with(repo: Path, name: str, files: dict[str, str], base: str = "main") -> str:
    """A branch `name` from `base` with one commit writing `files`; its tip."""
    git(repo, "branch", name, base)
    worktree = repo.parent / f"wt-{name}"
    git(repo, "worktree", "add", "-q", str(worktree), name)
    for file, text in files.items():
        (worktree / file).write_text(text)
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", f"{name} work")
    return git(worktree, "rev-parse", "HEAD")


def session(tmp_path: Path) -> tuple[Path, Path]:
    repo = make_repo(tmp_path / "repo", {"shared.txt": "one\ntwo\n"})
    worktree = tmp_path / "session"
    git(repo, "worktree", "add", "-q", "-b", "session", str(worktree))
    return repo, worktree


def test_merges_once_and_sees_a_merged_commit_as_done(tmp_path: Path) -> None:
    repo, worktree = session(tmp_path)
    tip = branch_with(repo, "a", {"a.txt": "a\n"})
    merger = SessionMerger(worktree=worktree)
    first = asyncio.run(merger.merge(tip, message="Merge item a"))
    again = asyncio.run(merger.merge(tip, message="Merge item a"))
    assert (first.status, again.status) == ("merged", "nothing")
    assert subjects(repo, "session", "--merges") == ["Merge item a"]


def test_no_commits_merge_nothing(tmp_path: Path) -> None:
    repo, worktree = session(tmp_path)
    outcome = asyncio.run(SessionMerger(worktree=worktree).merge(
        git(repo, "rev-parse", "main"), message="Merge item x"))
    assert outcome.status == "nothing"
    assert subjects(repo, "session") == ["initial"]


def test_a_conflict_names_the_paths_and_leaves_the_session_clean(tmp_path: Path) -> None:
    repo, worktree = session(tmp_path)
    first = branch_with(repo, "a", {"shared.txt": "one\nA\n"})
    second = branch_with(repo, "b", {"shared.txt": "one\nB\n", "b.txt": "b\n"})
    merger = SessionMerger(worktree=worktree)
    assert asyncio.run(merger.merge(first, message="Merge a")).status == "merged"
    outcome = asyncio.run(merger.merge(second, message="Merge b"))
    assert (outcome.status, outcome.conflicts) == ("failed", ("shared.txt",))
    assert outcome.error == "conflicts on shared.txt"
    assert git(worktree, "status", "--porcelain") == ""
    assert not (repo / ".git" / "worktrees" / "session" / "MERGE_HEAD").exists()
    assert (worktree / "shared.txt").read_text() == "one\nA\n"


def test_merges_run_one_at_a_time(tmp_path: Path) -> None:
    repo, worktree = session(tmp_path)
    tips = [branch_with(repo, f"i{n}", {f"f{n}.txt": f"{n}\n"}) for n in range(6)]
    merger = SessionMerger(worktree=worktree)

    async def all_at_once() -> list[str]:
        outcomes = await asyncio.gather(*(merger.merge(tip, message=f"Merge {n}")
                                          for n, tip in enumerate(tips)))
        return [outcome.status for outcome in outcomes]

    assert asyncio.run(all_at_once()) == ["merged"] * 6  # no index.lock clash
    assert sorted(subjects(repo, "session", "--merges")) == [f"Merge {n}" for n in range(6)]


def intent(item_id: str, attempt: int) -> MergeIntent:
    return MergeIntent(item_id=item_id, attempt=attempt, branch="b", commit="c" * 40,
                       outcome={})


def test_live_intents_are_the_ones_a_crash_cut(tmp_path: Path) -> None:
    intents = MergeIntents(tmp_path / "git" / "merges.jsonl")
    for record in (intent("done", 1), intent("cut", 1), intent("conflicted", 1),
                   intent("retried", 1), intent("retried", 3)):
        intents.append(record)
    with intents.path.open("a") as torn:
        torn.write('{"item_id": "torn", "attem')  # the crash tore the last line
    live = live_intents(intents.load(), finished={"done"},
                        failed_attempts={"conflicted": 1, "retried": 2})
    assert [(record.item_id, record.attempt) for record in live] == [("cut", 1), ("retried", 3)]
    intents.append(intent("after", 1))  # not glued to the torn line
    assert [record.item_id for record in intents.load()][-2:] == ["retried", "after"]
