"""mapreduce_fsm: run MapReduce workflows written in YAML on a checkpointed state machine.

The names in `__all__` are the public API; every other module is internal and may change.

>>> import os, tempfile
>>> os.chdir(tempfile.mkdtemp())
>>> _ = open("items.json", "w").write('["a", "b"]')
>>> _ = open("demo.yml", "w").write("name: demo\\nmap: {input: items.json, "
...                                  "agent_template: [{shell: 'echo ${item}'}]}")
>>> from mapreduce_fsm import Services, RunOptions, run
>>> result = run("demo.yml", state_dir="state",
...              services=Services(options=RunOptions(max_parallel=4)))
>>> result.state, result.exit_code
('completed', 0)

Names are imported on first use, so `import mapreduce_fsm` (and the command line's
`--help`) stays quick.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping  # loaded by typing anyway
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mapreduce_fsm.backends.dask import dask_backend
    from mapreduce_fsm.config import Workflow, load_workflow, load_workflow_text
    from mapreduce_fsm.config.model import CustomPhaseConfig, Step
    from mapreduce_fsm.console.interaction import (
        ConsoleInteraction,
        NonInteractive,
        ScriptedInteraction,
        SilentInteraction,
        UserInteraction,
    )
    from mapreduce_fsm.console.progress import NullProgress, ProgressReporter
    from mapreduce_fsm.errors import (
        EXIT_COMPLETED,
        EXIT_ENVIRONMENT,
        EXIT_FAILED,
        EXIT_INTERRUPTED,
        EXIT_PAUSED,
        EXIT_USAGE,
        ConfigIssue,
        EnvironmentFailure,
        ExpressionError,
        InputError,
        InterpolationError,
        JobLockedError,
        JobStateError,
        MapReduceError,
        UsageError,
        WorkflowFileError,
        describe_os_error,
    )
    from mapreduce_fsm.jobs import dlq
    from mapreduce_fsm.jobs.run import (
        NewJob,
        Services,
        plan_job,
        resume,
        resume_async,
        run,
        run_async,
        start_job,
    )
    from mapreduce_fsm.phases.context import PhaseContext, RunOptions
    from mapreduce_fsm.phases.coordinator import PhaseCoordinator, WorkflowResult
    from mapreduce_fsm.phases.map import MapPhase
    from mapreduce_fsm.phases.reduce import ReducePhase
    from mapreduce_fsm.phases.registry import build_phases, register_phase
    from mapreduce_fsm.phases.setup import SetupPhase
    from mapreduce_fsm.phases.steps import run_phase_steps, steps_result
    from mapreduce_fsm.phases.types import (
        Complete,
        Continue,
        DefaultTransitionHandler,
        Error,
        PhaseError,
        PhaseExecutor,
        PhaseMetrics,
        PhaseResult,
        PhaseTransition,
        PhaseTransitionHandler,
        Skip,
    )
    from mapreduce_fsm.state import JobStore
    from mapreduce_fsm.state.records import DlqEntry, Event, ItemResult

# Each public name and the module it lives in; `dlq` is the module itself.
_SOURCES = {
    "mapreduce_fsm.jobs.run": (
        "NewJob", "Services", "plan_job", "resume", "resume_async", "run", "run_async",
        "start_job",
    ),
    "mapreduce_fsm.jobs.dlq": ("dlq",),
    "mapreduce_fsm.backends.dask": ("dask_backend",),  # needs the [dask] extra
    "mapreduce_fsm.config": ("Workflow", "load_workflow", "load_workflow_text"),
    "mapreduce_fsm.config.model": ("CustomPhaseConfig", "Step"),
    "mapreduce_fsm.phases.coordinator": ("PhaseCoordinator", "WorkflowResult"),
    "mapreduce_fsm.phases.context": ("PhaseContext", "RunOptions"),
    "mapreduce_fsm.phases.types": (
        "Complete", "Continue", "DefaultTransitionHandler", "Error", "PhaseError",
        "PhaseExecutor", "PhaseMetrics", "PhaseResult", "PhaseTransition",
        "PhaseTransitionHandler", "Skip",
    ),
    "mapreduce_fsm.phases.map": ("MapPhase",),
    "mapreduce_fsm.phases.setup": ("SetupPhase",),
    "mapreduce_fsm.phases.reduce": ("ReducePhase",),
    "mapreduce_fsm.phases.registry": ("build_phases", "register_phase"),
    "mapreduce_fsm.phases.steps": ("run_phase_steps", "steps_result"),
    "mapreduce_fsm.console.interaction": (
        "ConsoleInteraction", "NonInteractive", "ScriptedInteraction", "SilentInteraction",
        "UserInteraction",
    ),
    "mapreduce_fsm.console.progress": ("NullProgress", "ProgressReporter"),
    "mapreduce_fsm.state": ("JobStore",),
    "mapreduce_fsm.state.records": ("DlqEntry", "Event", "ItemResult"),
    "mapreduce_fsm.errors": (
        "EXIT_COMPLETED", "EXIT_ENVIRONMENT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_PAUSED",
        "EXIT_USAGE", "ConfigIssue", "EnvironmentFailure", "ExpressionError", "InputError",
        "InterpolationError",
        "JobLockedError", "JobStateError", "MapReduceError", "UsageError",
        "WorkflowFileError", "describe_os_error",
    ),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "EXIT_COMPLETED",
    "EXIT_ENVIRONMENT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "Complete",
    "ConfigIssue",
    "ConsoleInteraction",
    "Continue",
    "CustomPhaseConfig",
    "DefaultTransitionHandler",
    "DlqEntry",
    "EnvironmentFailure",
    "Error",
    "Event",
    "ExpressionError",
    "InputError",
    "InterpolationError",
    "ItemResult",
    "JobLockedError",
    "JobStateError",
    "JobStore",
    "MapPhase",
    "MapReduceError",
    "NewJob",
    "NonInteractive",
    "NullProgress",
    "PhaseContext",
    "PhaseCoordinator",
    "PhaseError",
    "PhaseExecutor",
    "PhaseMetrics",
    "PhaseResult",
    "PhaseTransition",
    "PhaseTransitionHandler",
    "ProgressReporter",
    "ReducePhase",
    "RunOptions",
    "ScriptedInteraction",
    "Services",
    "SetupPhase",
    "SilentInteraction",
    "Skip",
    "Step",
    "UsageError",
    "UserInteraction",
    "Workflow",
    "WorkflowFileError",
    "WorkflowResult",
    "build_phases",
    "dask_backend",
    "describe_os_error",
    "dlq",
    "load_workflow",
    "load_workflow_text",
    "plan_job",
    "register_phase",
    "resume",
    "resume_async",
    "run",
    "run_async",
    "run_phase_steps",
    "start_job",
    "steps_result",
]


# Here, not in a module of its own, so that it costs `--help` no import: `phases` uses it too.
def lazy_names(
    package: str, module_of: Mapping[str, str], *, modules: Collection[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package` for the names in `module_of`.

    `module_of` maps each name to the module that defines it (relative to `package` when
    it starts with a dot); a name in `modules` is that module itself. A name is imported
    on first use and then kept in the package, so later uses are plain attributes.
    """

    def __getattr__(name: str) -> Any:
        module_name = module_of.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name, package)
        value = module if name in modules else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *module_of})

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF, modules={"dlq"})
