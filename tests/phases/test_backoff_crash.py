"""A crash during a retry's backoff wait: the resume keeps the attempt count and the wait."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mapreduce_fsm.commands.result import StepResult
from tests.phases.harness import ItemRunner
from tests.phases.test_map_phase import failure, job

RETRY_POLICY = """\
  on_item_failure: retry
  retry_config:
    max_attempts: 3
    backoff: { fixed: { delay: "1s" } }
"""


def crash_during_first_backoff(tmp_path: Any) -> tuple[Any, ItemRunner]:
    """Run one always-failing item; cancel the job 0.2 s into its first 1 s backoff."""
    j = job(tmp_path, 1, policy=RETRY_POLICY)
    runner = ItemRunner()

    def fail_and_crash_soon(item: Any) -> StepResult:
        if len(runner.calls) == 1:
            assert runner.job_task is not None
            asyncio.get_running_loop().call_later(0.2, runner.job_task.cancel)
        return failure(item)

    runner.fails = fail_and_crash_soon
    result = j.run(runner)
    assert result.interrupted and result.exit_code == 130
    return j, runner


def test_the_attempt_and_its_retry_time_are_durable_before_the_crash(tmp_path: Any) -> None:
    j, runner = crash_during_first_backoff(tmp_path)
    assert len(runner.calls) == 1
    assert j.results() == []  # no final result: the item runs again on resume
    (history,) = j.store().attempts.load().values()
    assert [a.attempt for a in history] == [1]
    assert history[0].retry_at is not None


def test_resume_continues_at_the_next_attempt_after_the_rest_of_the_wait(tmp_path: Any) -> None:
    j, _ = crash_during_first_backoff(tmp_path)
    started = time.monotonic()
    result = j.resume(ItemRunner())  # the second attempt succeeds
    waited = time.monotonic() - started
    assert result.state == "completed"
    (item,) = j.results()
    assert (item.status, item.attempts) == ("success", 2)
    assert waited >= 0.4  # the remaining ~0.8 s of the backoff was honoured, not skipped


def test_attempts_run_out_across_the_crash_and_the_dlq_has_every_attempt(tmp_path: Any) -> None:
    j, _ = crash_during_first_backoff(tmp_path)
    resumed = ItemRunner(fails=failure)
    result = j.resume(resumed)
    assert result.state == "completed"
    assert len(resumed.calls) == 2  # attempts 2 and 3 only: the count survived the crash
    (item,) = j.results()
    assert (item.status, item.attempts) == ("failed", 3)
    (entry,) = j.store().dlq.load()
    assert [a.attempt for a in entry.attempts] == [1, 2, 3]
