"""Work orders and item outcomes are plain data: through JSON and back unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mapreduce_fsm.agents import AgentSpec, ItemOutcome, WorkOrder
from mapreduce_fsm.agents import order as order_module
from mapreduce_fsm.agents.order import remove_abandoned_item_areas
from mapreduce_fsm.config import load_workflow_text
from mapreduce_fsm.convert import converter
from mapreduce_fsm.state.logs import StepOutput
from mapreduce_fsm.state.records import ItemResult

WORKFLOW = """\
name: orders
env:
  REGION: eu
map:
  input: items.json
  agent_timeout_secs: 30
  agent_template:
    - shell: "check ${item.name}"
      name: check
      timeout: 5
      when: "${item_index} > 0"
      env:
        MODE: strict
      capture_output: verdict
      capture_format: json
      on_failure:
        claude: "/fix ${item.name}"
        max_attempts: 2
        retry_original: true
      on_success:
        shell: "echo fine"
    - shell: "false"
      on_failure:
        shell: "echo giving up"
        fail_workflow: true
    - shell: "flaky"
      on_failure:
        - "echo one"
        - "echo two"
    - shell: "maybe"
      on_failure: true
    - claude: "/summarise ${item.name}"
      capture_output: true
    - write_file:
        path: "out/${item_id}.json"
        content:
          name: "${item.name}"
          tags: [a, b]
        format: json
        mode: "0644"
        create_dirs: true
"""


def through_json(value: Any, cls: type[Any]) -> Any:
    return converter.structure(json.loads(json.dumps(converter.unstructure(value))), cls)


def spec() -> AgentSpec:
    workflow = load_workflow_text(WORKFLOW, filename="orders.yml",
                                  environ={"MAPREDUCE_FSM_CLAUDE": sys.executable})
    return AgentSpec(
        steps=workflow.map.agent_template,
        variables={"REGION": "eu", "env": {"REGION": "eu", "TOKEN": "s3cret"},
                   "workflow": {"name": workflow.name}, "job": {"id": "job-1"},
                   "listing": ["a", "b"], "stats": {"count": 2, "ratio": 0.5, "ok": True}},
        item_total=2,
        cwd="/tmp/job",
        env={"REGION": "eu", "TOKEN": "s3cret", "JOB_ID": "job-1"},
        secrets=("s3cret",),
        timeout_secs=workflow.map.agent_timeout_secs,
        kill_grace_secs=0.5,
    )


def test_a_work_order_of_a_real_template_comes_back_from_json_unchanged() -> None:
    order = spec().order(item={"name": "b", "sizes": [1, 2], "note": None},
                         item_id="item-1", item_index=1, attempt=2)
    assert len(order.spec.steps) == 6  # handlers, captures, when, timeouts, write_file, claude
    back = through_json(order, WorkOrder)
    assert back == order
    assert back.variables() == order.variables()
    assert back.env() == order.env()


def test_an_item_outcome_comes_back_from_json_unchanged() -> None:
    outcome = ItemOutcome(
        result=ItemResult(
            item_id="item-1", item_index=1, item={"name": "b"}, status="failed", exit_code=3,
            output="checking b\n", error="step 'check' exited with code 3",
            failed_step="check", attempts=2, started_at="2026-01-01T00:00:00.000Z",
            finished_at="2026-01-01T00:00:01.500Z", duration_secs=1.5,
            captures={"verdict": {"ok": False, "reasons": ["size"]}},
        ),
        stderr_tail="no good\n",
        fail_workflow=True,
        step_outputs=(StepOutput(index=0, step="check", status="failed", exit_code=3,
                                 stdout="checking b\n", stderr="no good\n"),),
    )
    assert through_json(outcome, ItemOutcome) == outcome


def test_the_order_gives_the_steps_the_item_variables_and_environment() -> None:
    order = spec().order(item={"name": "b"}, item_id="item-1", item_index=1, attempt=1)
    variables = order.variables()
    assert {key: variables[key] for key in
            ("item", "item_index", "item_total", "item_id", "item_json")} == {
        "item": {"name": "b"}, "item_index": 1, "item_total": 2, "item_id": "item-1",
        "item_json": '{"name":"b"}'}
    assert variables["stats"] == {"count": 2, "ratio": 0.5, "ok": True}
    env = order.env()
    assert (env["ITEM_ID"], env["ITEM_INDEX"], env["ITEM_JSON"]) == ("item-1", "1",
                                                                   '{"name":"b"}')
    assert env["JOB_ID"] == "job-1"


def test_item_json_is_in_the_environment_only_while_it_fits_in_one_env_string() -> None:
    room = 128 * 1024 - len("ITEM_JSON=") - 1  # MAX_ARG_STRLEN, the NUL included
    fits = "x" * (room - 2)  # its JSON adds the two quotes
    fits_order = spec().order(item=fits, item_id="a", item_index=0, attempt=1)
    too_big = spec().order(item=fits + "x", item_id="b", item_index=1, attempt=1)
    assert fits_order.env()["ITEM_JSON"] == json.dumps(fits)
    assert "ITEM_JSON" not in too_big.env()


def test_the_item_file_holds_the_item_json_while_the_order_runs() -> None:
    order = spec().order(item={"name": "é" * 200_000}, item_id="a", item_index=0, attempt=1)
    with order.item_environment() as env:
        item_file = Path(env["ITEM_JSON_FILE"])
        assert item_file.read_text(encoding="utf-8") == order.item_json()
        assert "ITEM_JSON" not in env  # 400 KB of UTF-8
    assert not item_file.exists()
    assert item_file.parent.name.startswith("mapreduce-fsm-job-1-")  # the job's area


def test_only_the_item_areas_of_gone_processes_are_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(order_module, "_item_areas", {})
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    abandoned = tmp_path / f"mapreduce-fsm-job-1-{gone}-abcd1234"  # job-1's, its process gone
    other_job = tmp_path / f"mapreduce-fsm-job-1-2-{gone}-abcd1234"  # job-1-2's
    for area in (abandoned, other_job):
        area.mkdir()
        (area / "item-0-1.json").write_text("{}", encoding="utf-8")
    order = spec().order(item="x", item_id="a", item_index=0, attempt=1)

    with order.item_environment() as env:  # this process's area for job-1, in use
        assert remove_abandoned_item_areas("job-1") == 1
        assert Path(env["ITEM_JSON_FILE"]).read_text(encoding="utf-8") == '"x"'

    assert not abandoned.exists()
    assert other_job.exists()


def test_the_secrets_masker_is_made_once_for_the_orders_of_a_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each order made the masker twice (its steps' context, its result), each time
    # deriving every form of every secret: per-item work that belongs once per map.
    import asyncio

    import attrs

    from mapreduce_fsm.agents.agent import run_work_order
    from mapreduce_fsm.commands import masking
    from mapreduce_fsm.config.model import Step

    derived: list[str] = []
    real_forms = masking.secret_forms
    monkeypatch.setattr(masking, "secret_forms",
                        lambda secret: derived.append(secret) or real_forms(secret))
    secret = f"once-{tmp_path.name}"  # a secret no earlier test made a masker for
    shared = attrs.evolve(spec(), steps=(Step(shell=f"echo {secret}"),), cwd=str(tmp_path),
                          secrets=(secret,))
    outcomes = [asyncio.run(run_work_order(WorkOrder(spec=shared, item=n, item_id=f"i{n}",
                                                     item_index=n, attempt=1)))
                for n in range(3)]
    assert all(outcome.result.output == "***\n" for outcome in outcomes)
    assert derived == [secret]
