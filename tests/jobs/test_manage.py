"""`stop` and `clean` below the command line: ages, which jobs are chosen, a stubborn runner."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.errors import EXIT_FAILED, UsageError
from mapreduce_fsm.jobs.manage import (
    StillRunningError,
    choose_jobs_to_clean,
    parse_age,
    stop_job,
)
from mapreduce_fsm.jobs.run import run
from mapreduce_fsm.state import JobStore

QUICK = "name: quick\nmap:\n  input: \"echo '[1]'\"\n  agent_template:\n    - shell: \"true\"\n"


@pytest.mark.parametrize(("text", "seconds"),
                         [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600),
                          ("1.5h", 5400), (" 10s ", 10)])
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7y", "-1d", "soon"])
def test_parse_age_rejects_what_is_not_an_age(text: str) -> None:
    with pytest.raises(UsageError, match="expected an age such as 30m, 12h, 7d or 2w"):
        parse_age(text)


def test_older_than_chooses_only_jobs_unchanged_for_that_long(tmp_path: Path) -> None:
    (tmp_path / "q.yml").write_text(QUICK)
    state = tmp_path / "state"
    assert run(tmp_path / "q.yml", job_id="old", state_dir=state, working_dir=tmp_path,
               environ={}).exit_code == 0
    now = datetime.now(UTC)
    week = 7 * 86400.0
    assert choose_jobs_to_clean(state, [], older_than_secs=week, now=now) == []
    later = choose_jobs_to_clean(state, [], older_than_secs=week, now=now + timedelta(days=8))
    assert [(c.job_id, c.state, c.kept_because) for c in later] == [("old", "completed", None)]


def test_stop_raises_when_the_runner_ignores_the_request_past_the_wait(tmp_path: Path) -> None:
    (tmp_path / "q.yml").write_text(QUICK)
    state = tmp_path / "state"
    run(tmp_path / "q.yml", job_id="j", state_dir=state, working_dir=tmp_path, environ={})
    stubborn = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        store = JobStore.open(state, "j")
        lock = {"pid": stubborn.pid, "host": socket.gethostname(), "started_at": utc_now()}
        (store.path / "lock").write_text(json.dumps(lock))
        with pytest.raises(StillRunningError, match=r"asked to stop but still runs") as raised:
            stop_job(store, wait_secs=0.2)
        assert raised.value.exit_code == EXIT_FAILED
        assert stubborn.poll() is None
    finally:
        stubborn.send_signal(signal.SIGKILL)
        stubborn.wait()
