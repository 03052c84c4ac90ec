"""The README's promises: its marked examples run, its workflows load, its commands exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import click
import pytest
from click.testing import CliRunner

from mapreduce_fsm.cli.main import cli
from mapreduce_fsm.config import load_workflow_text

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "mapreduce_fsm" / "examples"

# A fenced block counts when the line right before its opening fence is a marker.
MARKED_BLOCK = re.compile(
    r"^<!-- test: (?P<mark>[a-z-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
# `mapreduce-fsm run`, `mapreduce-fsm dlq list`; not `.mapreduce-fsm` (the state dir).
COMMAND_MENTION = re.compile(r"(?<![\w./-])mapreduce-fsm ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
# An error-policy fragment is checked inside this smallest complete workflow.
FRAGMENT_BASE = "name: fragment\nmap: {input: items.json, agent_template: [{shell: 'true'}]}\n"
CLAUDE_ON_PATH = {**os.environ, "MAPREDUCE_FSM_CLAUDE": "true"}


@attrs.frozen(kw_only=True)
class Block:
    mark: str
    lang: str
    body: str
    line: int

    @property
    def label(self) -> str:
        return f"README.md:{self.line}"


def marked_blocks(text: str) -> list[Block]:
    return [
        Block(mark=m["mark"], lang=m["lang"], body=m["body"],
              line=text.count("\n", 0, m.start()) + 2)
        for m in MARKED_BLOCK.finditer(text)
    ]


README_TEXT = README.read_text(encoding="utf-8")
BLOCKS = marked_blocks(README_TEXT)


def blocks(mark: str) -> list[Block]:
    return [block for block in BLOCKS if block.mark == mark]


def readme_commands(text: str) -> list[tuple[str, ...]]:
    """Every distinct command the README names, with the subcommand of a group (`dlq list`)."""
    found: set[tuple[str, ...]] = set()
    for mention in COMMAND_MENTION.finditer(text):
        command, sub = mention.group(1), mention.group(2)
        found.add((command, sub) if command == "dlq" and sub else (command,))
    return sorted(found)


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mapreduce_fsm", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_readme_has_the_marked_examples_it_promises() -> None:
    assert len(blocks("run")) >= 3
    assert len(blocks("validate")) >= 4
    assert len(blocks("validate-fragment")) >= 5
    assert all(block.lang == "python" for block in blocks("run"))
    assert all(block.lang == "yaml" for block in BLOCKS if block.mark.startswith("validate"))


def test_marked_blocks_are_found_with_their_line() -> None:
    text = "intro\n<!-- test: run -->\n```python\nx = 1\n```\n\n```python\nnot marked\n```\n"
    assert marked_blocks(text) == [Block(mark="run", lang="python", body="x = 1\n", line=3)]


@pytest.mark.parametrize("block", blocks("run"), ids=lambda block: block.label)
def test_python_example_imports_only_the_public_api(block: Block) -> None:
    internal = re.findall(r"^\s*(?:from|import) (mapreduce_fsm\.[\w.]+)", block.body, re.MULTILINE)
    assert internal == [], f"{block.label} imports internal modules; use `from mapreduce_fsm`"
    assert "from mapreduce_fsm import" in block.body


@pytest.mark.parametrize("block", blocks("run"), ids=lambda block: block.label)
def test_python_example_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.body, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{block.label} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("block", blocks("validate"), ids=lambda block: block.label)
def test_workflow_example_validates(block: Block) -> None:
    workflow = load_workflow_text(block.body, filename=block.label, environ=CLAUDE_ON_PATH)
    assert workflow.map.agent_template


@pytest.mark.parametrize("block", blocks("validate-fragment"), ids=lambda block: block.label)
def test_error_policy_fragment_validates(block: Block) -> None:
    nested = load_workflow_text(FRAGMENT_BASE + block.body, filename=block.label,
                                environ=CLAUDE_ON_PATH)
    head, _, keys = block.body.partition("error_policy:\n")
    assert head == "" and keys, "a fragment is one error_policy: mapping"
    top_level = load_workflow_text(FRAGMENT_BASE + textwrap.dedent(keys), filename=block.label,
                                   environ=CLAUDE_ON_PATH)
    assert nested.error_policy == top_level.error_policy


def test_every_command_the_readme_names_is_found() -> None:
    commands = readme_commands(README_TEXT)
    assert {("run",), ("resume",), ("jobs",), ("status",), ("stop",), ("clean",),
            ("events",), ("validate",), ("diagram",)} <= set(commands)
    assert readme_commands("use `mapreduce-fsm dlq show J I` in .mapreduce-fsm jobs") == [
        ("dlq", "show")
    ]


@pytest.mark.parametrize("command", readme_commands(README_TEXT), ids=" ".join)
def test_command_named_in_the_readme_exists(command: tuple[str, ...]) -> None:
    # In process: a subprocess per command costs seconds on a loaded machine, and
    # `--help` parsing is the same either way (the examples below run the real CLI).
    done = CliRunner().invoke(cli, [*command, "--help"], prog_name="mapreduce-fsm")
    assert done.exit_code == 0, f"mapreduce-fsm {' '.join(command)} --help: {done.output}"
    assert f"Usage: mapreduce-fsm {' '.join(command)} " in done.output


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yml")), ids=lambda path: path.name)
def test_bundled_example_validates(example: Path, tmp_path: Path) -> None:
    done = run_cli(["validate", str(example)], tmp_path)
    assert done.returncode == 0, done.stderr


def test_error_policy_example_retries_the_flaky_item_and_dead_letters_the_broken(
    tmp_path: Path,
) -> None:
    done = run_cli(["run", "--yes", "--job-id", "ep", "--state-dir", str(tmp_path / "state"),
                    str(EXAMPLES / "error_policy.yml")], tmp_path)
    assert done.returncode == 4, done.stderr  # completed, but "broken" failed
    assert "2 of 3 items worked, 1 failed" in done.stderr
    assert "job ep completed, but 1 of 3 items failed (1 dead-lettered)" in done.stderr
    attempts = tmp_path / "out" / "error-policy" / "attempts"
    assert {path.name: path.read_text().strip() for path in attempts.iterdir()} == {
        "steady": "1", "flaky": "2", "broken": "3"
    }
    status = run_cli(["status", "ep", "--json", "--state-dir", str(tmp_path / "state")],
                     tmp_path)
    payload = json.loads(status.stdout)
    assert (payload["items"], payload["dead_lettered"]) == ({"success": 2, "failed": 1}, 1)


def test_verify_example_runs_the_custom_phase_after_reduce(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    done = run_cli(["run", "--yes", "--job-id", "vr", "--state-dir", state,
                    str(EXAMPLES / "verify_results.yml")], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = tmp_path / "out" / "verify-results" / "summary.txt"
    assert summary.read_text().split() == ["alpha", "beta", "gamma"]
    events = run_cli(["events", "vr", "--type", "transition", "--state-dir", state], tmp_path)
    assert "dest=verify" in events.stdout
    assert events.stdout.index("dest=reduce") < events.stdout.index("dest=verify") \
        < events.stdout.index("dest=completed")


def test_verify_example_fails_the_job_when_a_check_fails(tmp_path: Path) -> None:
    workflow = (EXAMPLES / "verify_results.yml").read_text(encoding="utf-8")
    broken = workflow.replace("-eq ${map.total}", "-eq 99")
    assert broken != workflow
    (tmp_path / "broken.yml").write_text(broken, encoding="utf-8")
    done = run_cli(["run", "--yes", "--job-id", "vb", "--state-dir", str(tmp_path / "state"),
                    "broken.yml"], tmp_path)
    assert done.returncode == 1
    assert "job vb failed" in done.stderr and "check 2" in done.stderr


def test_the_architecture_doc_maps_every_package_and_is_linked_from_the_readme() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "](docs/architecture.md)" in README_TEXT
    mapped = set(re.findall(r"^\| `(\w+)/` \|", doc, re.MULTILINE))
    packages = {path.parent.name for path in (ROOT / "mapreduce_fsm").glob("*/__init__.py")}
    assert mapped == packages - {"examples"}


def test_the_readme_lists_every_event_type_the_engine_writes() -> None:
    from mapreduce_fsm.cli.event_types import KNOWN_EVENT_TYPES

    section = README_TEXT.split("### Progress and events", 1)[1].split("\n### ", 1)[0]
    named: set[str] = set()
    for token in re.findall(r"`([a-z_]+(?:\.[a-z_]+)?(?:\|[a-z_]+)*)`", section):
        head, _, rest = token.partition("|")
        prefix = head.rsplit(".", 1)[0] + "." if "." in head else ""
        named.add(head)
        named.update(prefix + other for other in rest.split("|") if rest)
    assert KNOWN_EVENT_TYPES - named == set()


def synopsis_flags(text: str) -> dict[str, set[str]]:
    """The flags each command shows in a doc's command-line synopsis block (the fenced
    block of `mapreduce-fsm COMMAND ...` lines, continued on indented lines)."""
    start = text.index("```\nmapreduce-fsm run WORKFLOW") + 4
    block = text[start:text.index("\n```", start)]
    flags: dict[str, set[str]] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("mapreduce-fsm "):
            command = line.split()[1]
        shown = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line.split("#")[0])
        flags.setdefault(command, set()).update(shown)
    return flags


@pytest.mark.parametrize("doc", [README, ROOT / "docs" / "workflow-format.md"],
                         ids=lambda path: path.name)
def test_the_command_line_synopsis_shows_exactly_each_commands_flags(doc: Path) -> None:
    for name, shown in synopsis_flags(doc.read_text(encoding="utf-8")).items():
        command = cli.commands[name]
        if isinstance(command, click.Group):  # dlq: its subcommands are shown elsewhere
            continue
        options = [set(param.opts) for param in command.params
                   if isinstance(param, click.Option) and "--help" not in param.opts]
        missing = sorted(max(opts, key=len) for opts in options if not opts & shown)
        unknown = sorted(shown - set().union(*options))
        assert (name, missing, unknown) == (name, [], [])


def test_no_file_cites_design_notes_that_are_not_in_the_repository() -> None:
    # The format reference a reader can open is docs/workflow-format.md; the design notes
    # the project was written from are not shipped.
    outside = re.compile(r"WORKFLOW_FORMAT\.md|DESIGN\.md|PRODIGY_COMPAT\.md")
    files = [README, *ROOT.glob("docs/*.md"), *ROOT.glob("mapreduce_fsm/**/*.py"),
             *ROOT.glob("tests/**/*.py")]
    citing = sorted(str(path.relative_to(ROOT)) for path in files
                    if path != Path(__file__) and outside.search(path.read_text("utf-8")))
    assert citing == []
