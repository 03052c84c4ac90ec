"""`on_failure` in every form and `on_success` (docs/workflow-format.md section 2)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mapreduce_fsm.commands import SecretMasker, StepContext, StepResult, run_step, run_steps
from mapreduce_fsm.config.model import OnFailure, Step, WriteFileSpec

# Fails until it has run `times` times, counting runs in a file.
FLAKY = (
    "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge {times} ]"
)


def run(step: Step, tmp_path: Path, **context: Any) -> StepResult:
    return asyncio.run(run_step(step, {}, StepContext(cwd=tmp_path, **context)))


def handler(command: str) -> Step:
    return Step(shell=command)


def test_ignore_recovers_and_the_sequence_goes_on(tmp_path: Path) -> None:
    steps = [Step(shell="exit 5", on_failure=OnFailure(ignore=True)), Step(shell="echo next")]
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.ok
    first, second = outcome.results
    assert (first.status, first.recovered, first.exit_code) == ("failed", True, 5)
    assert second.stdout == "next\n"


def test_string_handler_sees_error_variables_and_recovers(tmp_path: Path) -> None:
    step = Step(
        name="compile",
        shell="echo 'boom happened' >&2; exit 3",
        on_failure=OnFailure(handlers=(handler(
            "printf '%s|%s|%s' ${error.message|sh} ${error.exit_code} ${error.step|sh} > report"
        ),)),
    )
    result = run(step, tmp_path)
    assert (result.status, result.recovered, result.ok) == ("failed", True, True)
    assert (tmp_path / "report").read_text() == "exited with code 3: boom happened|3|compile"
    assert "[on_failure attempt 1/1: handled]" in result.stderr


def test_list_of_handlers_run_in_order(tmp_path: Path) -> None:
    handlers = (handler("echo first >> log"), handler("echo second >> log"))
    result = run(Step(shell="false", on_failure=OnFailure(handlers=handlers)), tmp_path)
    assert result.recovered
    assert (tmp_path / "log").read_text() == "first\nsecond\n"


def test_failing_handler_fails_the_step_and_stops_later_handlers(tmp_path: Path) -> None:
    handlers = (handler("echo nope >&2; exit 9"), handler("echo second >> log"))
    result = run(Step(shell="exit 1", on_failure=OnFailure(handlers=handlers)), tmp_path)
    assert (result.status, result.recovered, result.ok) == ("failed", False, False)
    assert result.error == (
        "exited with code 1; on_failure handler 'echo nope >&2; exit 9' failed: "
        "exited with code 9: nope"
    )
    assert not (tmp_path / "log").exists()


def test_retry_original_until_the_step_succeeds(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    step = Step(
        shell=FLAKY.format(counter=counter, times=3) + " && echo ok-at-$n",
        on_failure=OnFailure(handlers=(handler("echo handled >> log"),), max_attempts=3,
                             retry_original=True),
    )
    result = run(step, tmp_path)
    assert counter.read_text() == "3\n"
    assert (tmp_path / "log").read_text() == "handled\nhandled\n"
    assert (result.status, result.recovered, result.ok) == ("success", False, True)
    assert result.stdout == "ok-at-3\n"


def test_retry_original_gives_up_after_max_attempts(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    step = Step(
        shell=FLAKY.format(counter=counter, times=99),
        on_failure=OnFailure(handlers=(handler("true"),), max_attempts=2, retry_original=True),
    )
    result = run(step, tmp_path)
    assert counter.read_text() == "3\n"  # the first run, then two retries
    assert (result.status, result.recovered, result.ok) == ("failed", False, False)


def test_handler_retried_without_retry_original(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky_handler = handler(FLAKY.format(counter=counter, times=2))
    step = Step(shell="false", on_failure=OnFailure(handlers=(flaky_handler,), max_attempts=2))
    result = run(step, tmp_path)
    assert counter.read_text() == "2\n"
    assert result.recovered


def test_retried_failure_becomes_the_next_error(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    step = Step(
        shell=FLAKY.format(counter=counter, times=99) + ' || { echo "run $n" >&2; exit $n; }',
        on_failure=OnFailure(handlers=(handler("echo ${error.exit_code} >> seen"),),
                             max_attempts=2, retry_original=True),
    )
    result = run(step, tmp_path)
    assert (tmp_path / "seen").read_text() == "1\n2\n"
    assert result.exit_code == 3
    assert result.error == "exited with code 3: run 3"


def test_fail_workflow_even_when_the_handler_succeeds(tmp_path: Path) -> None:
    steps = [
        Step(shell="exit 1", on_failure=OnFailure(handlers=(handler("true"),), fail_workflow=True)),
        Step(shell="echo never"),
    ]
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert len(outcome.results) == 1
    failed = outcome.results[0]
    assert (failed.recovered, failed.fail_workflow, failed.ok) == (True, True, False)
    assert outcome.failed == failed


def test_full_step_handler_with_its_own_modifiers(tmp_path: Path) -> None:
    full = Step(
        name="write the report",
        write_file=WriteFileSpec(path="reports/${error.step}.txt",
                                 content="${error.message}", create_dirs=True),
    )
    step = Step(name="lint", shell="echo 'E1 bad' >&2; exit 2",
                on_failure=OnFailure(handlers=(full,)))
    result = run(step, tmp_path)
    assert result.recovered
    assert (tmp_path / "reports" / "lint.txt").read_text() == "exited with code 2: E1 bad"


def test_timeout_reaches_on_failure(tmp_path: Path) -> None:
    step = Step(shell="sleep 5", timeout=0.2,
                on_failure=OnFailure(handlers=(handler("echo ${error.message} > why"),)))
    result = run(step, tmp_path, kill_grace_secs=0.2)
    assert (result.status, result.recovered) == ("timeout", True)
    assert (tmp_path / "why").read_text() == "timed out after 0.2s\n"


def test_error_message_in_handler_is_masked(tmp_path: Path) -> None:
    step = Step(shell='echo "key hunter2 rejected" >&2; exit 1',
                on_failure=OnFailure(handlers=(handler("echo ${error.message|sh} > why"),)))
    result = run(step, tmp_path, masker=SecretMasker(("hunter2",)))
    assert (tmp_path / "why").read_text() == "exited with code 1: key *** rejected\n"
    assert result.error == "exited with code 1: key *** rejected"


def test_handler_variables_do_not_leak_into_later_steps(tmp_path: Path) -> None:
    steps = [
        Step(shell="exit 1", on_failure=OnFailure(handlers=(
            Step(shell="echo leaked", capture_output="from_handler"),))),
        Step(shell="echo ${last.exit_code} ${from_handler:-absent}"),
    ]
    outcome = asyncio.run(run_steps(steps, {}, StepContext(cwd=tmp_path)))
    assert outcome.results[1].stdout == "1 absent\n"
    assert "error" not in outcome.variables


def test_on_success_runs_after_success_with_the_steps_output(tmp_path: Path) -> None:
    step = Step(shell="echo built", on_success=Step(shell="echo ${shell.output} > done"))
    result = run(step, tmp_path)
    assert result.status == "success"
    assert (tmp_path / "done").read_text() == "built\n"


def test_on_success_not_run_when_the_step_fails(tmp_path: Path) -> None:
    result = run(Step(shell="exit 1", on_success=Step(shell="touch done")), tmp_path)
    assert result.status == "failed"
    assert not (tmp_path / "done").exists()


def test_failing_on_success_fails_the_step(tmp_path: Path) -> None:
    result = run(Step(shell="echo ok", on_success=Step(shell="echo no >&2; exit 4")), tmp_path)
    assert (result.status, result.ok) == ("failed", False)
    assert result.error == "on_success handler failed: exited with code 4: no"


def test_on_success_runs_after_a_successful_retry(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    step = Step(
        shell=FLAKY.format(counter=counter, times=2),
        on_failure=OnFailure(handlers=(handler("true"),), max_attempts=2, retry_original=True),
        on_success=Step(shell="touch done"),
    )
    assert run(step, tmp_path).ok
    assert (tmp_path / "done").exists()
