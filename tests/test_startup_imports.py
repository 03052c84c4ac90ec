"""Start-up: importing the CLI leaves out slow modules; a signal while it imports exits 130."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce_fsm.state import Checkpoint, JobStore

# Each is imported only where it is used: a progress bar, a table, a json_path, a phase
# type that is not built in, or the first message printed.
LAZY_MODULES = ("importlib.metadata", "jsonpath_ng", "rich", "dask", "distributed")


def test_importing_the_cli_does_not_import_the_lazy_modules() -> None:
    code = (
        "import json, sys\n"
        "import mapreduce_fsm.cli.main\n"
        f"lazy = {LAZY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if any(m == n or m.startswith(n + '.') for n in lazy))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_help_imports_only_the_command_line_modules() -> None:
    """`--help` (and every command's help) loads no engine: no config, phases, jobs, state,
    asyncio, cattrs or yaml; each command imports what it needs when it runs."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from mapreduce_fsm.cli.main import cli\n"
        "for args in (['--help'], ['run', '--help'], ['dlq', 'retry', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mapreduce_fsm.')\n"
        "                        or m in ('asyncio', 'cattrs', 'yaml', 'transitions'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == [
        "mapreduce_fsm.cli", "mapreduce_fsm.cli.backend_flags", "mapreduce_fsm.cli.dlq",
        "mapreduce_fsm.cli.logs", "mapreduce_fsm.cli.main", "mapreduce_fsm.cli.manage",
        "mapreduce_fsm.cli.run", "mapreduce_fsm.cli.shared", "mapreduce_fsm.cli.views",
        "mapreduce_fsm.errors",
    ]


STOP_WHILE_IMPORTING_THE_CLI = """
import importlib.abc, os, signal, sys, time

class SignalDuringImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "mapreduce_fsm.cli":
            os.kill(os.getpid(), signal.{signal})
            time.sleep(5)  # the handler ends the process before this does
        return None

sys.meta_path.insert(0, SignalDuringImport())
sys.argv = ["mapreduce-fsm", "jobs"]
from mapreduce_fsm.__main__ import main
main()
"""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_cli_is_still_importing_exits_130_quietly(signal_name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STOP_WHILE_IMPORTING_THE_CLI.replace("{signal}", signal_name)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stderr) == (130, "interrupted\n")


def test_jobs_and_status_load_the_machine_but_no_phase_or_step_runner(tmp_path: Path) -> None:
    """They show a job's state with the machine's names; the phases, the step runner and
    asyncio behind them are for running a job."""
    store = JobStore.create(tmp_path, "stopped-1", "name: stopped\n")
    store.save_checkpoint(Checkpoint(
        job_id="stopped-1", workflow_name="stopped", workflow_digest="0", working_dir="/",
        state="map", phase_order=("setup", "map", "reduce"), item_phase="map",
        created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z"))
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from mapreduce_fsm.cli.main import cli\n"
        "for args in (['jobs'], ['status', 'stopped-1']):\n"
        f"    done = CliRunner().invoke(cli, [*args, '--state-dir', {str(tmp_path)!r}])\n"
        "    assert 'stopped in map' in done.output, done.output\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(\n"
        "    ('mapreduce_fsm.phases', 'mapreduce_fsm.commands', 'asyncio')))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == ["mapreduce_fsm.phases", "mapreduce_fsm.phases.machine"]
