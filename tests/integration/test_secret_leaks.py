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


def test_an_item_whose_value_is_a_secret_is_stored_masked(
    cli: Cli, write_workflow: WriteWorkflow, tmp_path: Path, state_dir: Path
) -> None:
    token = "tok-5f2b9c81e0"
    (tmp_path / "items.json").write_text(json.dumps([token, "plain", {"key": token}]))
    workflow = write_workflow("items.yml", """
        name: items
        secrets:
          TOKEN: {env: ITEM_TOKEN}
        map:
          input: items.json
          agent_template:
            - shell: "test ${item_index} -ne 0"
        reduce:
          - shell: "cat ${map.results_file} > /dev/null"
        """)
    code, stdout, stderr = cli("run", str(workflow), "--yes", env={"ITEM_TOKEN": token})
    assert code == 4, stderr  # item 0 failed: it is in the DLQ too
    files = [path for path in state_dir.rglob("*") if path.is_file()]
    results = next(path for path in files if path.name == "results.jsonl").read_text()
    assert '"item":"***"' in results and '"item":"plain"' in results  # masked, not dropped
    for where, text in [("stdout", stdout), ("stderr", stderr)] + [
        (str(path), path.read_text(errors="replace")) for path in files
    ]:
        assert token not in text, where
