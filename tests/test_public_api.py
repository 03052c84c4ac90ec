"""The public API: `mapreduce_fsm.__all__` resolves lazily, and its types reach a user's mypy."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import mapreduce_fsm
from mapreduce_fsm import phases
from mapreduce_fsm.cli import dlq as dlq_commands
from mapreduce_fsm.jobs import dlq as dlq_operations

ROOT = Path(__file__).resolve().parents[1]

ECHO = """
name: echo
map:
  input: "printf '%s\\\\n' a b"
  agent_template:
    - shell: "echo ${item}"
reduce:
  confirm: always
  commands:
    - shell: "echo ${map.successful} > count.txt"
"""


@pytest.mark.parametrize("name", mapreduce_fsm.__all__)
def test_every_public_name_resolves_to_the_object_in_its_module(name: str) -> None:
    value = getattr(mapreduce_fsm, name)
    module = importlib.import_module(mapreduce_fsm._MODULE_OF[name])
    assert value is (module if name == "dlq" else getattr(module, name))


def test_all_lists_exactly_the_names_that_resolve() -> None:
    assert sorted(mapreduce_fsm.__all__) == sorted(mapreduce_fsm._MODULE_OF)
    assert len(set(mapreduce_fsm.__all__)) == len(mapreduce_fsm.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        mapreduce_fsm.no_such_name  # noqa: B018


def test_mypy_sees_each_public_name_from_the_module_it_is_loaded_from() -> None:
    """The `if TYPE_CHECKING:` imports (what mypy reads) match the lazy table (what runs)."""
    tree = ast.parse((ROOT / "mapreduce_fsm" / "__init__.py").read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names:
            seen[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    assert seen.pop("dlq") == "mapreduce_fsm.jobs.dlq"
    assert seen == {name: f"{module}.{name}" for name, module in mapreduce_fsm._MODULE_OF.items()
                    if name != "dlq"}


def test_importing_the_package_imports_none_of_its_modules_until_a_name_is_used() -> None:
    code = (
        "import json, sys\n"
        "import mapreduce_fsm\n"
        "before = sorted(m for m in sys.modules if m.startswith('mapreduce_fsm.'))\n"
        "mapreduce_fsm.UsageError\n"
        "after = sorted(m for m in sys.modules if m.startswith('mapreduce_fsm.'))\n"
        "print(json.dumps([before, after]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    before, after = json.loads(done.stdout)
    assert before == []
    assert after == ["mapreduce_fsm.errors"]


def test_the_dlq_commands_offer_the_export_formats_the_operations_know() -> None:
    assert dlq_commands.EXPORT_FORMATS == dlq_operations.EXPORT_FORMATS


def test_sync_run_and_resume_take_typed_keywords(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echo.yml").write_text(ECHO, encoding="utf-8")
    services = mapreduce_fsm.Services(interaction=mapreduce_fsm.ScriptedInteraction([False]))
    paused = mapreduce_fsm.run("echo.yml", job_id="echo-1", state_dir="state",
                               services=services)
    assert (paused.job_id, paused.state, paused.exit_code) == ("echo-1", "paused", 3)
    done = mapreduce_fsm.resume(
        "echo-1", state_dir="state",
        services=mapreduce_fsm.Services(interaction=mapreduce_fsm.ScriptedInteraction([True])),
    )
    assert (done.state, done.exit_code) == ("completed", 0)
    assert (tmp_path / "count.txt").read_text() == "2\n"


def test_plan_job_checks_everything_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "echo.yml").write_text(ECHO, encoding="utf-8")
    job = mapreduce_fsm.plan_job(tmp_path / "echo.yml", job_id="echo-2",
                                 state_dir=tmp_path / "state", working_dir=tmp_path)
    assert (job.workflow.name, job.path) == ("echo", tmp_path / "state" / "jobs" / "echo-2")
    assert not (tmp_path / "state").exists()
    job.path.mkdir(parents=True)
    with pytest.raises(mapreduce_fsm.UsageError,
                       match=r"job echo-2 already exists .* --state-dir "):
        mapreduce_fsm.plan_job(tmp_path / "echo.yml", job_id="echo-2",
                               state_dir=tmp_path / "state")


USER_SCRIPT_OK = """
from mapreduce_fsm import RunOptions, Services, WorkflowResult, load_workflow, run

def go(path: str) -> int:
    name: str = load_workflow(path).name
    result: WorkflowResult = run(path, job_id=name, state_dir="state",
                                 services=Services(options=RunOptions(max_parallel=2)))
    return result.exit_code
"""

USER_SCRIPT_WRONG = """
from mapreduce_fsm import run

def go(path: str) -> None:
    run(path, job_id=42)
"""


def test_a_users_mypy_sees_the_types_and_reports_a_misuse(tmp_path: Path) -> None:
    (tmp_path / "user_ok.py").write_text(textwrap.dedent(USER_SCRIPT_OK), encoding="utf-8")
    (tmp_path / "user_wrong.py").write_text(textwrap.dedent(USER_SCRIPT_WRONG),
                                            encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), "user_ok.py", "user_wrong.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert errors[0].startswith("user_wrong.py:5: error: Argument \"job_id\" to \"run\" "
                                "has incompatible type \"int\"")
    assert "[arg-type]" in errors[0]


@pytest.mark.parametrize("package", [mapreduce_fsm, phases], ids=lambda p: p.__name__)
def test_the_package_and_phases_share_one_lazy_import(package: ModuleType) -> None:
    """One helper makes both packages' names lazy; each name resolves to its module's object,
    is kept in the package from then on, and an unknown name is an AttributeError."""
    assert package.__getattr__.__code__ is mapreduce_fsm.lazy_names("x", {})[0].__code__
    for name in package.__all__:
        value = getattr(package, name)
        assert vars(package)[name] is value  # kept: the next use is a plain attribute
        assert name in dir(package)
    with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute"):
        package.no_such_name  # noqa: B018
