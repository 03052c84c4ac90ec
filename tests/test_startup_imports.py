"""Start-up cost: importing the CLI leaves out the slow modules a plain run does not need."""

from __future__ import annotations

import json
import subprocess
import sys

# Each is imported only where it is used: a progress bar, a table, a json_path, a phase
# type that is not built in, or the first message printed.
LAZY_MODULES = ("importlib.metadata", "jsonpath_ng", "rich")


def test_importing_the_cli_does_not_import_the_lazy_modules() -> None:
    code = (
        "import json, sys\n"
        "import mapreduce_fsm.cli\n"
        f"lazy = {LAZY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if any(m == n or m.startswith(n + '.') for n in lazy))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == []
