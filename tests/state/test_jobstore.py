"""The job store: state dir, job ids, creating, opening and listing jobs."""

from __future__ import annotations

import errno
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.errors import EnvironmentFailure, JobStateError, UsageError
from mapreduce_fsm.state import (
    STATE_DIR_ENV,
    Checkpoint,
    JobStore,
    PhaseProgress,
    check_job_id,
    list_jobs,
    new_job_id,
    resolve_state_dir,
)
from mapreduce_fsm.state.records import ItemResult, ItemStatus

JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def test_state_dir_flag_wins_over_environment(tmp_path: Path) -> None:
    chosen = resolve_state_dir("flag", cwd=tmp_path, environ={STATE_DIR_ENV: "/from/env"})
    assert chosen == tmp_path / "flag"


def test_a_state_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "afile").touch()
    with pytest.raises(UsageError, match=r"\$MAPREDUCE_FSM_HOME .*afile' is a file"):
        resolve_state_dir(None, cwd=tmp_path, environ={STATE_DIR_ENV: "afile"})


def test_state_dir_from_environment(tmp_path: Path) -> None:
    assert resolve_state_dir(None, cwd=tmp_path, environ={STATE_DIR_ENV: "/from/env"}) == Path(
        "/from/env"
    )


def test_state_dir_default_is_in_the_working_directory(tmp_path: Path) -> None:
    assert resolve_state_dir(None, cwd=tmp_path, environ={}) == tmp_path / ".mapreduce-fsm"
    assert resolve_state_dir(None, cwd=tmp_path, environ={STATE_DIR_ENV: ""}) == (
        tmp_path / ".mapreduce-fsm"
    )


def test_new_job_id_format() -> None:
    moment = datetime(2026, 11, 24, 14, 48, 3, tzinfo=UTC)
    job_id = new_job_id("word stats/v2", now=moment, rng=random.Random(7))
    assert re.fullmatch(r"word-stats-v2-20261124-144803-[0-9a-f]{4}", job_id)


def test_new_job_id_uses_utc() -> None:
    moment = datetime(2026, 11, 24, 16, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert new_job_id("x", now=moment, rng=random.Random(1)).startswith("x-20261124-140000-")


def test_new_job_ids_differ() -> None:
    assert len({new_job_id("x") for _ in range(20)}) > 1


@given(st.text(max_size=300))
def test_new_job_id_is_always_valid(name: str) -> None:
    job_id = new_job_id(name, rng=random.Random(0))
    assert check_job_id(job_id) == job_id
    assert JOB_ID.fullmatch(job_id)


@pytest.mark.parametrize("job_id", ["", "a/b", "../etc", "..", ".", "x" * 101, "spa ce", "ü"])
def test_check_job_id_rejects_and_says_the_rule(job_id: str) -> None:
    with pytest.raises(UsageError, match=r"invalid job id .*1 to 100 characters"):
        check_job_id(job_id)


def test_create_keeps_the_workflow_and_refuses_an_existing_job(tmp_path: Path) -> None:
    store = JobStore.create(tmp_path, "job-1", "name: demo\n")
    assert store.path == tmp_path / "jobs" / "job-1"
    assert store.read_workflow_text() == "name: demo\n"
    with pytest.raises(JobStateError, match="job job-1 already exists"):
        JobStore.create(tmp_path, "job-1", "name: demo\n")
    store.save_workflow_text("name: changed\n")
    assert JobStore.open(tmp_path, "job-1").read_workflow_text() == "name: changed\n"


def test_create_refuses_a_bad_id(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        JobStore.create(tmp_path, "../escape", "name: demo\n")
    assert not (tmp_path / "escape").exists()


def test_open_missing_job_says_where_and_suggests_similar(tmp_path: Path) -> None:
    for job_id in ("demo-20260101-000000-abcd", "demo-20260101-000000-abce", "other"):
        JobStore.create(tmp_path, job_id, "name: demo\n")
    with pytest.raises(JobStateError) as caught:
        JobStore.open(tmp_path, "demo-20260101-000000-abcf")
    message = str(caught.value)
    assert str(tmp_path / "jobs") in message
    assert "demo-20260101-000000-abcd" in message and "demo-20260101-000000-abce" in message
    assert "other" not in message.split("similar ids:")[1]


def test_open_missing_job_in_an_empty_state_dir(tmp_path: Path) -> None:
    with pytest.raises(JobStateError, match="no job nope in") as caught:
        JobStore.open(tmp_path, "nope")
    assert "similar" not in str(caught.value)


def test_opened_store_sees_what_the_created_one_wrote(tmp_path: Path) -> None:
    created = JobStore.create(tmp_path, "job-1", "name: demo\n")
    created.save_checkpoint(checkpoint("job-1"))
    created.results.append(ItemResult(item_id="a", item_index=0, item=1, status="success"))
    created.events.emit("job.started")
    created.close()
    opened = JobStore.open(tmp_path, "job-1")
    assert opened.load_checkpoint() == checkpoint("job-1")
    assert list(opened.results.load().results) == ["a"]
    assert [event.type for event in opened.events.read()] == ["job.started"]


def test_unreadable_workflow_is_a_job_state_error(tmp_path: Path) -> None:
    store = JobStore.create(tmp_path, "job-1", "name: demo\n")
    store.workflow_path.unlink()
    with pytest.raises(JobStateError, match="workflow it was run with"):
        store.read_workflow_text()


def checkpoint(
    job_id: str, created_at: str = "2026-01-01T00:00:00.000Z", state: str = "map"
) -> Checkpoint:
    return Checkpoint(
        job_id=job_id, workflow_name="demo", workflow_digest="d", working_dir="/w",
        state=state, phase_order=("setup", "map", "reduce"), item_phase="map",
        phases={"map": PhaseProgress(status="running", data={"total": 5})},
        created_at=created_at, updated_at=created_at,
    )


def test_list_jobs_newest_first_with_counts_and_a_corrupt_one(tmp_path: Path) -> None:
    old = JobStore.create(tmp_path, "old", "name: demo\n")
    old.save_checkpoint(checkpoint("old", "2026-01-01T00:00:00.000Z", state="completed"))
    new = JobStore.create(tmp_path, "new", "name: demo\n")
    new.save_checkpoint(checkpoint("new", "2026-02-01T00:00:00.000Z"))
    statuses: list[ItemStatus] = ["success", "failed", "timeout", "skipped", "success"]
    for index, status in enumerate(statuses):
        new.results.append(
            ItemResult(item_id=f"i{index}", item_index=index, item=index, status=status)
        )
    new.results.append(ItemResult(item_id="i1", item_index=1, item=1, status="success"))
    new.close()
    broken = JobStore.create(tmp_path, "broken", "name: demo\n")
    broken.checkpoint_path.write_text("{torn", encoding="utf-8")
    JobStore.create(tmp_path, "fresh", "name: demo\n")  # crashed before its first checkpoint
    (tmp_path / "jobs" / "not a job").mkdir()  # made by hand: ignored

    jobs = {summary.job_id: summary for summary in list_jobs(tmp_path)}
    assert set(jobs) == {"old", "new", "broken", "fresh"}
    assert [s.job_id for s in list_jobs(tmp_path)][-2:] == ["new", "old"]
    assert (jobs["new"].ok, jobs["new"].failed, jobs["new"].skipped, jobs["new"].total) == (
        3, 1, 1, 5,
    )
    assert (jobs["new"].state, jobs["new"].problem) == ("map", None)
    assert (jobs["old"].state, jobs["old"].ok) == ("completed", 0)
    assert jobs["broken"].problem is not None
    assert jobs["broken"].problem.startswith("corrupt checkpoint:")
    assert "checkpoint.json" in jobs["broken"].problem
    assert jobs["fresh"].problem is not None and jobs["fresh"].total is None


def test_list_jobs_of_a_missing_state_dir_is_empty(tmp_path: Path) -> None:
    assert list_jobs(tmp_path / "nowhere") == []


def open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    return {str(link.readlink()) for link in fds.iterdir() if link.is_symlink()}


def test_releasing_the_job_lock_closes_the_journals(tmp_path: Path) -> None:
    store = JobStore.create(tmp_path, "job-1", "name: demo\n")
    with store.lock():
        store.results.append(ItemResult(item_id="a", item_index=0, item=1, status="success"))
        store.events.emit("item.finished")
        assert str(store.path / "results.jsonl") in open_files()
    assert not {f for f in open_files() if f.startswith(str(store.path))}
    assert not (store.path / "lock").exists()


def test_a_job_whose_workflow_cannot_be_written_leaves_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, data: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("mapreduce_fsm.state.jobstore.write_atomic", disk_full)
    # A full disk is the environment failing (exit 5), named with the job's folder.
    with pytest.raises(EnvironmentFailure, match=r"cannot create job job-1 in .*No space left"):
        JobStore.create(tmp_path, "job-1", "name: demo\n")
    assert not (tmp_path / "jobs" / "job-1").exists()  # `run` can make it again
    assert list((tmp_path / "jobs").iterdir()) == []  # and no half-made staging folder


def test_a_kill_while_a_job_is_created_leaves_no_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        """Stands for the SIGKILL: nothing after it runs."""

    def killed(path: Path, data: str) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr("mapreduce_fsm.state.jobstore.write_atomic", killed)
        with pytest.raises(Killed):
            JobStore.create(tmp_path, "job-1", "name: demo\n")
    assert not (tmp_path / "jobs" / "job-1").exists()
    assert list_jobs(tmp_path) == []
    created = JobStore.create(tmp_path, "job-1", "name: demo\n")
    assert created.read_workflow_text() == "name: demo\n"
