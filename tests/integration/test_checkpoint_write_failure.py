"""`resume` whose checkpoint cannot be written (file size limit: EFBIG) stops at once, naming it."""

from __future__ import annotations

import asyncio
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from mapreduce_fsm.jobs.run import Services, run_workflow
from mapreduce_fsm.phases.context import RunOptions
from mapreduce_fsm.state import JobStore
from tests.integration.conftest import cli_command, cli_env

# The map's items take long: the job is interrupted in the map, then resumed.
WORKFLOW = """\
name: full-disk
map:
  input: items.json
  agent_template:
    - shell: "sleep 30"
"""
LIMIT_BYTES = 600  # room for an event line or two, not for a checkpoint (about 900 bytes)
HANG_SECS = 30  # the command should end in well under a second; this only catches a hang


def small_files_only() -> None:
    """In the child: writes past LIMIT_BYTES fail with EFBIG instead of killing it (SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def test_a_checkpoint_that_cannot_be_written_stops_resume_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b"]', encoding="utf-8")
    state_dir = tmp_path / "state"

    async def interrupted_run() -> None:
        async with asyncio.timeout(1):
            await run_workflow(tmp_path / "wf.yml", job_id="job-1", state_dir=state_dir,
                               working_dir=tmp_path, environ={},
                               services=Services(options=RunOptions(kill_grace_secs=0.5)))

    with pytest.raises(TimeoutError):
        asyncio.run(interrupted_run())
    store = JobStore.open(state_dir, "job-1")
    before = store.checkpoint_path.read_bytes()
    assert len(before) > LIMIT_BYTES  # else the limit would not stop its next write
    (store.path / "events.jsonl").write_text("", encoding="utf-8")  # room for new events

    done = subprocess.run(
        cli_command(("resume", "job-1"), state_dir), cwd=tmp_path, env=cli_env(),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=HANG_SECS,
        preexec_fn=small_files_only, check=False,
    )

    assert done.returncode == 5, done.stderr  # the environment failed (docs/workflow-format.md §7)
    assert f"cannot save the checkpoint {store.checkpoint_path}" in done.stderr
    assert "File too large" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert store.checkpoint_path.read_bytes() == before  # the job stays as it was saved
    assert not list(store.path.glob(".*.tmp"))  # no half-written temp file left
    assert store.lock().live_holder() is None
