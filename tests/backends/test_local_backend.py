"""LocalBackend runs a real work order's steps as processes here and makes the item's outcome."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import attrs

from mapreduce_fsm.agents import AgentSpec, ItemOutcome, WorkOrder
from mapreduce_fsm.backends import LocalBackend
from mapreduce_fsm.config.model import OnFailure, Step
from mapreduce_fsm.convert import converter


def order(tmp_path: Path, *steps: Step, timeout_secs: float | None = None) -> WorkOrder:
    spec = AgentSpec(
        steps=steps,
        variables={"greeting": "hello", "TOKEN": "s3cret"},
        item_total=3,
        cwd=str(tmp_path),
        env={"TOKEN": "s3cret"},
        secrets=("s3cret",),
        timeout_secs=timeout_secs,
        kill_grace_secs=0.2,
    )
    return spec.order(item={"name": "b"}, item_id="item-b", item_index=1, attempt=2)


def run(work: WorkOrder) -> ItemOutcome:
    return asyncio.run(LocalBackend(capacity=1).run(work))


def test_a_successful_order_gives_output_captures_and_the_item_fields(tmp_path: Path) -> None:
    work = order(
        tmp_path,
        Step(shell='printf "%s %s %s/%s" "$ITEM_ID" "${greeting}" "$ITEM_INDEX" "${item_total}"',
             capture_output="said"),
        Step(shell='printf "%s" "$TOKEN" > token.txt; echo "${item.name}"'),
    )
    outcome = run(work)
    result = outcome.result
    assert (result.status, result.exit_code, result.error) == ("success", 0, None)
    assert (result.item_id, result.item_index, result.item, result.attempts) == (
        "item-b", 1, {"name": "b"}, 2)
    assert result.output == "item-b hello 1/3\nb\n"
    assert result.captures == {"said": "item-b hello 1/3"}
    assert (tmp_path / "token.txt").read_text() == "s3cret"  # the order's env and cwd
    assert result.started_at <= result.finished_at and result.duration_secs > 0
    assert not outcome.fail_workflow and outcome.stderr_tail == ""


def test_secrets_in_captures_are_masked(tmp_path: Path) -> None:
    outcome = run(order(tmp_path, Step(shell='echo "key=$TOKEN"', capture_output="line")))
    assert outcome.result.captures == {"line": "key=***"}


def test_a_failed_step_gives_its_error_stderr_and_fail_workflow(tmp_path: Path) -> None:
    work = order(
        tmp_path,
        Step(shell="echo before"),
        Step(shell="echo broken >&2; exit 3", name="check",
             on_failure=OnFailure(handlers=(Step(shell="true"),), fail_workflow=True)),
        Step(shell="echo never"),
    )
    outcome = run(work)
    result = outcome.result
    assert (result.status, result.exit_code, result.failed_step) == ("failed", 3, "check")
    assert result.error == "step 'check': exited with code 3: broken"
    assert "broken" in outcome.stderr_tail
    assert "never" not in result.output
    assert outcome.fail_workflow
    back = converter.structure(json.loads(json.dumps(converter.unstructure(outcome))),
                               ItemOutcome)
    assert back == outcome


def test_the_items_time_limit_stops_its_steps(tmp_path: Path) -> None:
    outcome = run(order(tmp_path, Step(shell="sleep 30", name="slow"), timeout_secs=0.3))
    assert outcome.result.status == "timeout"
    assert outcome.result.failed_step == "slow"


def test_the_output_kept_is_capped(tmp_path: Path) -> None:
    work = order(tmp_path, Step(shell="head -c 5000 /dev/zero | tr '\\0' x"))
    capped = attrs.evolve(work, spec=attrs.evolve(work.spec, output_cap_bytes=1000))
    output = run(capped).result.output
    assert output == "x" * 1000 + "\n[... 4001 bytes dropped]"  # 5000 x and the newline added
