"""The map phase through a real coordinator and job store, with items run on a fake backend."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.commands.result import StepResult
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.phases import RunOptions
from mapreduce_fsm.policy import error_signature
from tests.phases.harness import FakeRunner, ItemRunner, Job, RecordingRunner

MAP_WORKFLOW = """\
name: map-test
env:
  TOKEN: abc
map:
  input: items.json
  id_field: name
  max_parallel: {parallel}
  agent_template:
    - shell: "work ${{item.name}}"
      name: work
reduce:
  confirm: never
  commands:
    - shell: "sum ${{map.total}}"
      name: sum
error_policy:
{policy}
"""


def items(count: int) -> list[dict[str, Any]]:
    return [{"name": f"i{n}", "n": n} for n in range(count)]


def job(tmp_path: Path, count: int, *, parallel: int = 4,
        policy: str = "  on_item_failure: dlq") -> Job:
    (tmp_path / "items.json").write_text(json.dumps(items(count)))
    return Job(tmp_path, MAP_WORKFLOW.format(parallel=parallel, policy=policy))


def failure(item: Any) -> StepResult:
    return StepResult(step="work", status="failed", exit_code=2,
                      stderr=f"cannot open /tmp/data/{item['name']}.txt\n")


def fail_when(predicate: Callable[[int], bool]) -> Callable[[Any], StepResult | None]:
    return lambda item: failure(item) if predicate(item["n"]) else None


def started(runner: ItemRunner) -> list[str]:
    return [call["item_id"] for call in runner.calls]


def test_every_item_gets_one_result_with_the_right_fields(tmp_path: Path) -> None:
    j = job(tmp_path, 6)
    result = j.run(ItemRunner(fails=fail_when(lambda n: n % 3 == 1)))
    assert result.state == "completed"
    results = j.results()
    assert sorted(r.item_id for r in results) == [f"i{n}" for n in range(6)]
    by_id = {r.item_id: r for r in results}
    ok = by_id["i0"]
    assert (ok.status, ok.attempts, ok.exit_code, ok.error, ok.failed_step) == (
        "success", 1, 0, None, None)
    assert (ok.item_index, ok.item, ok.output) == (0, {"name": "i0", "n": 0}, "done i0\n")
    assert ok.captures == {"seen": {"name": "i0", "n": 0}}
    assert ok.started_at and ok.finished_at and ok.duration_secs >= 0
    bad = by_id["i4"]
    assert (bad.status, bad.attempts, bad.exit_code, bad.failed_step) == ("failed", 1, 2, "work")
    assert bad.error == "step 'work' exited with code 2"
    assert (bad.item_index, bad.captures) == (4, {})
    map_data = result.phase_results["map"].data
    assert (map_data["success"], map_data["failed"], map_data["total"]) == (4, 2, 6)


def test_item_variables_and_item_environment_reach_the_runner(tmp_path: Path) -> None:
    runner = ItemRunner()
    assert job(tmp_path, 3).run(runner).state == "completed"
    seen = {call["item_id"]: call for call in runner.calls}
    second = seen["i1"]
    assert second["item"] == {"name": "i1", "n": 1}
    assert (second["item_index"], second["item_total"]) == (1, 3)
    assert json.loads(second["item_json"]) == {"name": "i1", "n": 1}
    assert (second["TOKEN"], second["job"], second["workflow"]) == (
        "abc", {"id": "job-1"}, {"name": "map-test"})
    envs = {context.env["ITEM_ID"]: context.env for context in runner.contexts}
    assert set(envs) == {"i0", "i1", "i2"}
    env = envs["i2"]
    assert (env["ITEM_INDEX"], json.loads(env["ITEM_JSON"])) == ("2", {"name": "i2", "n": 2})
    assert (env["JOB_ID"], env["TOKEN"]) == ("job-1", "abc")


def test_items_without_id_field_are_named_by_index(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps(["x", "y"]))
    text = MAP_WORKFLOW.format(parallel=2, policy="  on_item_failure: dlq").replace(
        "  id_field: name\n", "").replace("${item.name}", "${item}")
    runner = ItemRunner()
    j = Job(tmp_path, text)
    assert j.run(runner).state == "completed"
    assert sorted((call["item_id"], call["item"]) for call in runner.calls) == [
        ("item-0", "x"), ("item-1", "y")]


@pytest.mark.parametrize(("parallel", "override"), [(3, None), (5, 2), (1, None)])
def test_max_parallel_is_respected_and_used(
    tmp_path: Path, parallel: int, override: int | None
) -> None:
    runner = ItemRunner(work_secs=0.01)
    options = RunOptions(max_parallel=override)
    j = job(tmp_path, 10, parallel=parallel)
    assert j.run(runner, options=options).state == "completed"
    assert runner.max_in_flight == (override or parallel)
    assert len(j.results()) == 10


def test_an_empty_item_list_skips_the_map_and_reduce_still_runs(tmp_path: Path) -> None:
    runner = RecordingRunner()
    j = job(tmp_path, 0)
    assert j.run(runner).state == "completed"
    checkpoint = j.checkpoint()
    moves = [(t.trigger, t.source, t.dest) for t in checkpoint.history]
    assert ("skip", "map", "reduce") in moves
    assert checkpoint.phases["map"].status == "skipped"
    (label, variables), = runner.calls
    assert label == "sum"
    assert (variables["map"]["total"], variables["map"]["results"]) == (0, [])
    assert runner.contexts[0].env["MAP_TOTAL"] == "0"


def test_a_resume_runs_only_the_items_without_a_final_result(tmp_path: Path) -> None:
    j = job(tmp_path, 6, parallel=1)
    crashing = ItemRunner(crash_at=3)
    first = j.run(crashing)
    assert first.interrupted and first.state == "map"
    assert [r.item_id for r in j.results()] == ["i0", "i1"]

    runner = ItemRunner()
    assert j.resume(runner).state == "completed"
    assert started(runner) == ["i2", "i3", "i4", "i5"]  # i2 was running: it runs again
    assert Counter(r.item_id for r in j.results()) == {f"i{n}": 1 for n in range(6)}


def test_dlq_records_failed_items_with_attempts_and_signature(tmp_path: Path) -> None:
    j = job(tmp_path, 5)
    assert j.run(ItemRunner(fails=fail_when(lambda n: n in (1, 3)))).state == "completed"
    entries = {entry.item_id: entry for entry in j.store().dlq.load()}
    assert set(entries) == {"i1", "i3"}
    entry = entries["i3"]
    assert (entry.item_index, entry.item) == (3, {"name": "i3", "n": 3})
    (attempt,) = entry.attempts
    assert (attempt.attempt, attempt.status, attempt.exit_code, attempt.failed_step) == (
        1, "failed", 2, "work")
    assert "cannot open /tmp/data/i3.txt" in attempt.stderr_tail
    assert entry.signature == error_signature("step 'work' exited with code 2", "work", 2)
    assert entries["i1"].signature == entry.signature  # failed the same way: one group


def test_skip_records_failed_items_as_skipped(tmp_path: Path) -> None:
    j = job(tmp_path, 4, policy="  on_item_failure: skip")
    result = j.run(ItemRunner(fails=fail_when(lambda n: n == 2)))
    assert result.state == "completed"
    statuses = {r.item_id: r.status for r in j.results()}
    assert statuses == {"i0": "success", "i1": "success", "i2": "skipped", "i3": "success"}
    assert j.store().dlq.load() == []


def test_stop_fails_the_phase_and_starts_no_item_after_the_failure(tmp_path: Path) -> None:
    j = job(tmp_path, 6, parallel=1, policy="  on_item_failure: stop")
    runner = ItemRunner(fails=fail_when(lambda n: n == 2))
    result = j.run(runner)
    assert (result.state, result.exit_code) == ("failed", 1)
    assert result.error == "on_item_failure is stop: item i2 failed"
    assert started(runner) == ["i0", "i1", "i2"]
    assert j.checkpoint().resume_phase == "map"
    # The failed item is in the DLQ, so `dlq retry` can run it again once it is fixed.
    assert [entry.item_id for entry in j.store().dlq.load()] == ["i2"]


def test_retry_until_success_and_dead_letter_after_exhaustion(tmp_path: Path) -> None:
    policy = """\
  on_item_failure: retry
  retry_config:
    max_attempts: 3
    backoff: { exponential: { initial: "10ms", multiplier: 2 } }
"""
    tries: Counter[str] = Counter()

    def flaky(item: Any) -> StepResult | None:
        tries[item["name"]] += 1
        if item["n"] == 1 or (item["n"] == 2 and tries[item["name"]] == 1):
            return failure(item)
        return None

    j = job(tmp_path, 3, policy=policy)
    runner = ItemRunner(fails=flaky)
    assert j.run(runner).state == "completed"
    assert Counter(started(runner)) == {"i0": 1, "i1": 3, "i2": 2}
    results = {r.item_id: r for r in j.results()}
    assert len(j.results()) == 3
    assert (results["i1"].status, results["i1"].attempts) == ("failed", 3)
    assert (results["i2"].status, results["i2"].attempts) == ("success", 2)
    (entry,) = j.store().dlq.load()
    assert entry.item_id == "i1"
    assert [a.attempt for a in entry.attempts] == [1, 2, 3]


@pytest.mark.parametrize(
    ("policy", "count", "failing", "reason", "ran"),
    [
        ("  max_failures: 2", 8, {1, 3, 5}, "max_failures reached: 2 items failed", 4),
        ("  failure_threshold: 0.2", 14, {0, 2, 4}, "failure rate 30% exceeds failure_threshold "
         "20% after 10 items", 10),
    ],
)
def test_failure_limits_stop_the_map_with_the_documented_reason(
    tmp_path: Path, policy: str, count: int, failing: set[int], reason: str, ran: int
) -> None:
    j = job(tmp_path, count, parallel=1, policy=policy)
    runner = ItemRunner(fails=fail_when(lambda n: n in failing))
    result = j.run(runner)
    assert (result.state, result.error) == ("failed", reason)
    assert len(runner.calls) == ran
    assert "reduce" not in result.phase_results


def test_a_changed_input_refuses_resume_unless_forced(tmp_path: Path) -> None:
    j = job(tmp_path, 3, parallel=1, policy="  on_item_failure: stop")
    assert j.run(ItemRunner(fails=fail_when(lambda n: n == 1))).state == "failed"
    (tmp_path / "items.json").write_text(json.dumps(items(4)))
    before = j.checkpoint()
    with pytest.raises(JobStateError, match="input items changed"):
        j.resume(ItemRunner())
    assert j.store().results.load().results.keys() == {"i0", "i1"}  # nothing ran
    # The job is left as it was (failed), not shown as running a map nothing runs.
    assert j.checkpoint() == before
    refused = [e for e in j.store().events.read() if e.type == "job.resume_refused"]
    assert [e.data["state"] for e in refused] == ["failed"]

    runner = ItemRunner()
    result = j.resume(runner, options=RunOptions(force=True))
    assert result.state == "completed"
    assert started(runner) == ["i2", "i3"]  # i1 has its final result (failed) already


def test_an_unchanged_input_resumes_without_force(tmp_path: Path) -> None:
    j = job(tmp_path, 3, parallel=1, policy="  on_item_failure: stop")
    assert j.run(ItemRunner(fails=fail_when(lambda n: n == 1))).state == "failed"
    runner = FakeRunner()
    assert j.resume(runner).state == "completed"
    assert [(label, v.get("item_id")) for label, v in runner.calls] == [
        ("work", "i2"), ("sum", None)]
