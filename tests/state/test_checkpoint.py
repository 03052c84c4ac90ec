"""The checkpoint: JSON round trip, strict loading, the version check, atomic saving."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given

from mapreduce_fsm.convert import from_json, to_json
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state import Checkpoint, JobStore, PhaseProgress, workflow_digest
from mapreduce_fsm.state.checkpoint import read_checkpoint, write_checkpoint

from .strategies import checkpoints


def make_checkpoint(**changes: Any) -> Checkpoint:
    base = Checkpoint(
        job_id="job-1",
        workflow_name="demo",
        workflow_digest=workflow_digest("name: demo\n"),
        working_dir="/work",
        state="map",
        phase_order=("setup", "map", "reduce"),
        phases={"setup": PhaseProgress(status="completed", next_step=2)},
        variables={"count": 3, "nested": {"list": [1, "two", None]}},
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
    )
    return attrs.evolve(base, **changes)


@given(checkpoints)
def test_any_checkpoint_survives_a_json_round_trip(checkpoint: Checkpoint) -> None:
    assert from_json(to_json(checkpoint), Checkpoint) == checkpoint


@given(checkpoints)
def test_saved_checkpoint_loads_back_equal(checkpoint: Checkpoint) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "checkpoint.json"
        write_checkpoint(path, checkpoint)
        assert read_checkpoint(path) == checkpoint


def test_missing_checkpoint_reads_as_none(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path / "checkpoint.json") is None


def _write_raw(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _raw(**changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(to_json(make_checkpoint()))
    data.update(changes)
    return data


def test_extra_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    path = _write_raw(tmp_path, _raw(surprise=1))
    with pytest.raises(JobStateError, match=r"\$: unknown keys surprise") as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value)


def test_wrong_type_deep_inside_names_the_path(tmp_path: Path) -> None:
    data = _raw()
    data["phases"] = {"setup": {"status": "completed", "next_step": "2"}}
    expected = r"\$\.phases\['setup'\]\.next_step: expected an integer"
    with pytest.raises(JobStateError, match=expected):
        read_checkpoint(_write_raw(tmp_path, data))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("state", 3, r"\$\.state: expected a string, got an integer"),
        ("format_version", True, r"\$\.format_version: expected an integer, got a boolean"),
        ("phase_order", "setup", r"\$\.phase_order: expected an array, got a string"),
        ("phases", {"map": {"status": "done"}}, r"\$\.phases\['map'\]\.status: expected one of"),
    ],
)
def test_strict_types(tmp_path: Path, field: str, value: object, expected: str) -> None:
    with pytest.raises(JobStateError, match=expected):
        read_checkpoint(_write_raw(tmp_path, _raw(**{field: value})))


def test_missing_field_is_named(tmp_path: Path) -> None:
    data = _raw()
    del data["working_dir"]
    with pytest.raises(JobStateError, match=r"\$\.working_dir: required field missing"):
        read_checkpoint(_write_raw(tmp_path, data))


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2]", "null"])
def test_not_a_checkpoint_at_all(tmp_path: Path, content: str) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(JobStateError, match=r"checkpoint .*checkpoint\.json"):
        read_checkpoint(path)


def test_newer_format_version_is_refused_naming_the_version_read(tmp_path: Path) -> None:
    path = _write_raw(tmp_path, _raw(format_version=2, field_from_the_future=True))
    with pytest.raises(JobStateError, match=r"format version 2.*reads version 1"):
        read_checkpoint(path)


def test_failed_write_leaves_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "checkpoint.json"
    old = make_checkpoint()
    write_checkpoint(path, old)
    before = path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        write_checkpoint(path, make_checkpoint(state="reduce"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json"]
    assert read_checkpoint(path) == old


def test_temp_file_of_a_killed_writer_is_removed_when_the_job_is_locked(tmp_path: Path) -> None:
    store = JobStore.create(tmp_path, "job-1", "name: demo\n")
    store.save_checkpoint(make_checkpoint())
    leftover = store.path / ".checkpoint.json.abc123.tmp"
    leftover.write_text('{"half": ', encoding="utf-8")
    with store.lock():
        assert not leftover.exists()
        assert store.load_checkpoint() == make_checkpoint()


def test_workflow_digest_is_sha256_of_the_text() -> None:
    assert workflow_digest("") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert workflow_digest("name: a\n") != workflow_digest("name: b\n")


def test_a_checkpoint_without_format_version_is_refused_naming_the_field(tmp_path: Path) -> None:
    data = _raw()
    del data["format_version"]
    path = _write_raw(tmp_path, data)
    expected = r"\$\.format_version: required field missing"
    with pytest.raises(JobStateError, match=expected) as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("next_step", [-1, -(10**30)])
def test_a_negative_step_index_is_refused_naming_the_field(tmp_path: Path, next_step: int) -> None:
    data = _raw()
    data["phases"] = {"setup": {"status": "failed", "next_step": next_step}}
    path = _write_raw(tmp_path, data)
    expected = r"\$\.phases\['setup'\]: next_step must be 0 or more"
    with pytest.raises(JobStateError, match=expected):
        read_checkpoint(path)


def test_a_negative_step_index_cannot_be_made_in_code() -> None:
    with pytest.raises(ValueError, match="next_step"):
        PhaseProgress(next_step=-1)
