"""What a job keeps of the run that started it (`run_options.json`) survives a kill at any point."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mapreduce_fsm.backends.local import LocalBackend
from mapreduce_fsm.jobs.run import Services, resume_async, run_async
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import jobstore

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

    def killed_after_rename(path: Path) -> None:
        raise Killed  # fsync_dir(jobs) follows os.rename(staging, job dir)

    with monkeypatch.context() as patch:
        patch.setattr(jobstore, "fsync_dir", killed_after_rename)
        with pytest.raises(Killed):
            asyncio.run(run_async(tmp_path / "wf.yml", job_id="j", state_dir=tmp_path / "state",
                                  working_dir=tmp_path, environ={},
                                  services=Services(options=RunOptions(max_parallel=3))))
    assert (tmp_path / "state" / "jobs" / "j").is_dir()  # the kill came after the rename

    capacities: list[int] = []
    monkeypatch.chdir(tmp_path)
    result = asyncio.run(resume_async("j", state_dir=tmp_path / "state", environ={},
                                      services=recording(capacities)))

    assert result.state == "completed"
    assert capacities == [3]  # --max-parallel 3 of the killed run, not the workflow's 1
