"""A multi-line secret printed by failing steps appears in no job file and no CLI output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Cli

WriteWorkflow = Callable[[str, str], Path]
SECRET = '-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34 "q" \\x\n  line-three ünï\n-----END KEY-----'
LEAKS = [
    SECRET, "MIIBOgIBAAJBAKj34", "line-three", "-----END KEY-----",
    " ".join(line.strip() for line in SECRET.splitlines()),
    json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1],
]

LEAKY = """
    name: leaky
    secrets:
      KEY: {env: LEAKY_KEY}
    setup:
      - shell: "printf '%s\\\\n' \\"$KEY\\""
        capture_output: printed
    map:
      input: "echo '[1, 2]'"
      agent_template:
        - shell: "printf '%s\\\\n' \\"${KEY}\\" >&2; printf '%s' \\"$KEY\\"; exit 3"
          on_failure: "echo handled: ${error.message}"
        - shell: "printf '%s\\\\n' \\"$KEY\\" >&2; exit 4"
    reduce:
      - shell: "echo \\"${printed}\\"; echo ${map.failed} >&2; exit 5"
    """


def test_a_multi_line_secret_leaks_into_no_job_file_and_no_output(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    workflow = write_workflow("leaky.yml", LEAKY)
    code, stdout, stderr = cli("run", str(workflow), "--yes", env={"LEAKY_KEY": SECRET})
    assert code != 0 and "Traceback" not in stderr
    files = [path for path in state_dir.rglob("*") if path.is_file()]
    assert any("***" in path.read_text(errors="replace") for path in files)  # it was there
    for where, text in [("stdout", stdout), ("stderr", stderr)] + [
        (str(path), path.read_text(errors="replace")) for path in files
    ]:
        for leak in LEAKS:
            assert leak not in text, (where, leak)
