"""The step context's copy of the environment: what `dict(os.environb)` gives, made in C."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mapreduce_fsm.commands.context import StepContext, environ_snapshot


def test_the_snapshot_is_os_environb_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAPREDUCE_FSM_SNAPSHOT_TEST", "é one")
    monkeypatch.delenv("HOME", raising=False)
    snapshot = environ_snapshot()
    assert snapshot == dict(os.environb)
    assert snapshot[b"MAPREDUCE_FSM_SNAPSHOT_TEST"] == "é one".encode()
    assert b"HOME" not in snapshot
    snapshot[b"ADDED"] = b"x"  # a copy: the process's environment is not changed
    assert "ADDED" not in os.environ


def test_a_context_sees_the_environment_as_it_was_when_it_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAPREDUCE_FSM_SNAPSHOT_TEST", "before")
    context = StepContext(cwd=Path("."), env={"JOB_ID": "j1"})
    monkeypatch.setenv("MAPREDUCE_FSM_SNAPSHOT_TEST", "after")
    env = context.process_env({"STEP": "s"})
    assert env[b"MAPREDUCE_FSM_SNAPSHOT_TEST"] == b"before"
    assert (env[b"JOB_ID"], env[b"STEP"]) == (b"j1", b"s")
    made_now = StepContext(cwd=Path("."))
    assert made_now.process_env({})[b"MAPREDUCE_FSM_SNAPSHOT_TEST"] == b"after"
