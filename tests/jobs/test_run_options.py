"""What a job keeps of the run that started it (`run_options.json`) survives a kill at any point."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mapreduce_fsm.backends.local import LocalBackend
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.jobs.run import Services, resume_async, run_async
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore, jobstore

WORKFLOW = """\
name: kept
map:
  input: items.json
  max_parallel: 1
  agent_template:
    - shell: "echo ${item} >> ran.log"
"""


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def killed_right_after_rename(monkeypatch: pytest.MonkeyPatch, workflow: Path, tmp_path: Path,
                              services: Services | None = None) -> None:
    """Start job "j" of `workflow` and 'SIGKILL' it right after its directory is renamed
    into place (fsync_dir(jobs) follows os.rename(staging, job dir))."""

    def killed_after_rename(path: Path) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(jobstore, "fsync_dir", killed_after_rename)
        with pytest.raises(Killed):
            asyncio.run(run_async(workflow, job_id="j", state_dir=tmp_path / "state",
                                  working_dir=tmp_path, environ={}, services=services))


def recording(capacities: list[int]) -> Services:
    def factory(capacity: int) -> LocalBackend:
        capacities.append(capacity)
        return LocalBackend(capacity=capacity)

    return Services(backend=factory)


def test_a_kill_right_after_the_job_directory_is_renamed_keeps_max_parallel_for_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b"]', encoding="utf-8")

    killed_right_after_rename(monkeypatch, tmp_path / "wf.yml", tmp_path,
                              Services(options=RunOptions(max_parallel=3)))
    assert (tmp_path / "state" / "jobs" / "j").is_dir()  # the kill came after the rename

    capacities: list[int] = []
    monkeypatch.chdir(tmp_path)
    result = asyncio.run(resume_async("j", state_dir=tmp_path / "state", environ={},
                                      services=recording(capacities)))

    assert result.state == "completed"
    assert capacities == [3]  # --max-parallel 3 of the killed run, not the workflow's 1


def test_a_job_killed_before_its_first_checkpoint_resumes_with_its_workflow_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workflow's env_files are found next to the workflow file, and a change to that
    # file is noticed, as for a job with a checkpoint. Before, such a job forgot the file:
    # resumed from elsewhere, its env file was looked for in the wrong directory.
    flows, elsewhere = tmp_path / "flows", tmp_path / "elsewhere"
    flows.mkdir()
    elsewhere.mkdir()
    (tmp_path / "items.json").write_text("[1]", encoding="utf-8")
    (flows / "vars.env").write_text("GREETING=hello\n", encoding="utf-8")
    (flows / "wf.yml").write_text(
        "name: kept\nenv_files: [vars.env]\nsetup:\n  - shell: echo $GREETING > greeting.txt\n"
        "map:\n  input: items.json\n  agent_template:\n    - shell: 'true'\n",
        encoding="utf-8")

    killed_right_after_rename(monkeypatch, flows / "wf.yml", tmp_path)
    monkeypatch.chdir(elsewhere)
    result = asyncio.run(resume_async("j", state_dir=tmp_path / "state", environ={}))
    assert result.state == "completed"
    assert (tmp_path / "greeting.txt").read_text(encoding="utf-8") == "hello\n"

    checkpoint = JobStore.open(tmp_path / "state", "j").load_checkpoint()
    assert checkpoint is not None and checkpoint.workflow_path == str(flows / "wf.yml")


def test_a_changed_workflow_file_of_a_job_killed_before_its_first_checkpoint_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a"]', encoding="utf-8")

    killed_right_after_rename(monkeypatch, tmp_path / "wf.yml", tmp_path)
    (tmp_path / "wf.yml").write_text(WORKFLOW.replace("ran.log", "changed.log"), "utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JobStateError, match="changed since job j started"):
        asyncio.run(resume_async("j", state_dir=tmp_path / "state", environ={}))
    result = asyncio.run(resume_async("j", state_dir=tmp_path / "state", environ={},
                                      services=Services(options=RunOptions(force=True))))
    assert result.state == "completed"
    assert (tmp_path / "changed.log").read_text(encoding="utf-8") == "a\n"
    assert "changed.log" in JobStore.open(tmp_path / "state", "j").read_workflow_text()
