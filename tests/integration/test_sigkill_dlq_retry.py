"""`dlq retry` killed (SIGKILL) around the moment it takes the retried items' results away.

The kill is made deterministic: the retry runs in a child Python process whose results
journal SIGKILLs the process just before or just after it is rewritten. Whichever side
of the rewrite the kill lands on, the job must not be left `completed` with retried
items that have no result: `resume` finishes the retry.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce_fsm.jobs.run import run_workflow
from mapreduce_fsm.state import JobStore

WORKFLOW = """\
name: dlq-kill
map:
  input: items.json
  agent_template:
    - shell: "echo ${item} >> ran.log; test -e ok-${item} || exit 3"
reduce:
  - shell: "echo reduced >> reduce.log"
error_policy:
  on_item_failure: dlq
"""

# The retry, in a process that kills itself at the rewrite of results.jsonl.
RETRY_AND_DIE = """\
import os, signal, sys
from mapreduce_fsm.jobs.dlq import retry
from mapreduce_fsm.state.journal import ResultsJournal

original = ResultsJournal.rewrite
def rewrite(self, results):
    if sys.argv[2] == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, results)
    os.kill(os.getpid(), signal.SIGKILL)
ResultsJournal.rewrite = rewrite
retry("j", state_dir=sys.argv[1])
"""


def make_failed_job(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "items.json").write_text('["a", "b", "c"]', encoding="utf-8")
    (tmp_path / "ok-a").touch()
    asyncio.run(run_workflow(tmp_path / "wf.yml", job_id="j", state_dir=tmp_path / "state",
                             working_dir=tmp_path, environ={}))
    for item in "bc":
        (tmp_path / f"ok-{item}").touch()  # the retry will succeed


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_retry_killed_at_the_journal_rewrite_is_finished_by_resume(
    tmp_path: Path, when: str
) -> None:
    make_failed_job(tmp_path)
    killed = subprocess.run([sys.executable, "-c", RETRY_AND_DIE, str(tmp_path / "state"), when],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    assert killed.returncode == -9, killed.stderr

    resumed = subprocess.run(
        [sys.executable, "-m", "mapreduce_fsm", "resume", "j", "--state-dir",
         str(tmp_path / "state")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        check=False,
    )

    assert resumed.returncode == 0, resumed.stderr
    store = JobStore.open(tmp_path / "state", "j")
    results = store.results.load().results
    assert {item_id: result.status for item_id, result in results.items()} == {
        "item-0": "success", "item-1": "success", "item-2": "success"}
    assert store.dlq.load() == []
    ran = (tmp_path / "ran.log").read_text(encoding="utf-8").split()
    assert sorted(ran) == ["a", "b", "b", "c", "c"]  # a never again; b and c once more
    assert (tmp_path / "reduce.log").read_text(encoding="utf-8") == "reduced\nreduced\n"
    lines = [json.loads(line)["item_id"] for line in
             store.results.path.read_text(encoding="utf-8").splitlines()]
    assert sorted(lines) == ["item-0", "item-1", "item-2"]
