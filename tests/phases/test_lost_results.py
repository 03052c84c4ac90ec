"""A job whose results journal lost results, or that has no checkpoint: said, never run silently.

The checkpoint counts the item results that were durable when it was written; a resume
that finds fewer in `results.jsonl` stops, naming the file and the count, until the user
restores the file or passes --force. A job directory without a checkpoint is started
from the beginning when it holds no results, and refused with what to do when it does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mapreduce_fsm.console.interaction import ScriptedInteraction
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.jobs.run import Services, resume_job, run_workflow
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore

# The reduce fails until `reduce-ok` exists: the job ends failed with all four results.
WORKFLOW = """\
name: lost
map:
  input: items.json
  agent_template:
    - shell: "echo ${item} >> ran.log"
reduce:
  - shell: "test -e reduce-ok && echo ${map.successful} > reduce.out"
"""


def failed_job(tmp_path: Path) -> JobStore:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b", "c", "d"]', encoding="utf-8")
    result = asyncio.run(run_workflow(tmp_path / "wf.yml", job_id="j",
                                      state_dir=tmp_path / "state", working_dir=tmp_path,
                                      environ={}))
    assert result.state == "failed"
    (tmp_path / "reduce-ok").touch()
    return JobStore.open(tmp_path / "state", "j")


def resume(tmp_path: Path, *, force: bool = False,
           interaction: ScriptedInteraction | None = None) -> str:
    services = Services(options=RunOptions(force=force),
                        interaction=interaction or ScriptedInteraction([]))
    return asyncio.run(resume_job("j", state_dir=tmp_path / "state", services=services,
                                  environ={})).state


def warnings(interaction: ScriptedInteraction) -> list[str]:
    return [text for level, text in interaction.messages if level == "warning"]


def test_the_checkpoint_counts_the_durable_results(tmp_path: Path) -> None:
    store = failed_job(tmp_path)
    checkpoint = store.load_checkpoint()
    assert checkpoint is not None and checkpoint.durable_results == 4


def test_a_deleted_results_journal_stops_resume_until_force(tmp_path: Path) -> None:
    store = failed_job(tmp_path)
    store.results.path.unlink()

    with pytest.raises(JobStateError) as refused:
        resume(tmp_path)

    message = str(refused.value)
    assert str(store.results.path) in message
    assert "holds 0 item results, but 4 were saved" in message and "--force" in message
    assert not (tmp_path / "reduce.out").exists()  # nothing ran
    interaction = ScriptedInteraction([])
    assert resume(tmp_path, force=True, interaction=interaction) == "completed"
    assert any("4 item results are lost" in line for line in warnings(interaction))
    lost = list(store.events.read(types={"job.results_lost"}))
    assert [(event.data["lost"], event.data["file"]) for event in lost] == [
        (4, str(store.results.path))]


def test_a_results_journal_cut_in_half_stops_resume(tmp_path: Path) -> None:
    store = failed_job(tmp_path)
    lines = store.results.path.read_bytes().splitlines(keepends=True)
    store.results.path.write_bytes(b"".join(lines[:2]) + lines[2][:10])

    with pytest.raises(JobStateError, match="holds 2 item results, but 4 were saved"):
        resume(tmp_path)


def test_a_job_without_checkpoint_or_results_is_started_by_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "items.json").write_text('["a", "b"]', encoding="utf-8")
    (tmp_path / "reduce-ok").touch()
    JobStore.create(tmp_path / "state", "j", WORKFLOW)  # killed before its first checkpoint
    monkeypatch.chdir(tmp_path)
    interaction = ScriptedInteraction([])

    assert resume(tmp_path, interaction=interaction) == "completed"

    assert (tmp_path / "ran.log").read_text(encoding="utf-8").split() == ["a", "b"]
    assert any("never started" in line for line in warnings(interaction))


def test_a_job_with_results_but_no_checkpoint_is_refused_with_what_to_do(
    tmp_path: Path
) -> None:
    store = failed_job(tmp_path)
    store.checkpoint_path.unlink()

    with pytest.raises(JobStateError) as refused:
        resume(tmp_path)

    message = str(refused.value)
    assert "no checkpoint" in message and "4 item results" in message
    assert str(store.checkpoint_path) in message and "run" in message
    assert (tmp_path / "ran.log").read_text(encoding="utf-8").split() == ["a", "b", "c", "d"]
