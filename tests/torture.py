"""The kill campaign: SIGKILL `run`, `resume` and `dlq retry` at random points, resume, check.

    python -m tests.torture --kills 100 [--seed 7]        (or: make torture)

Each job has two setup steps, a map over items (a few fail until a flag file is removed,
so they go to the DLQ) and two reduce steps. Every step first appends a line to a log
outside the job directory, tagged with the campaign's marker, so the campaign knows
what really ran. A job is driven to its end by a series of runner invocations (`run`,
then `resume`; once it completed with dead letters, `dlq retry`, then `resume`), each
SIGKILLed after a random delay (or left to finish), until the job has completed with an
empty DLQ. Then it checks:

- lost: items without a final result; duplicated: items with more than one line in
  `results.jsonl`; failed: items whose final result is not a success;
- wrongly re-run: an item with a durable result (in the journal when the invocation
  started, and not one a retry takes back) that ran again; a setup or reduce step that
  ran again although the checkpoint had saved it done;
- stuck: an invocation that did not end on its own within its time limit, or a job that
  did not complete within the allowed number of invocations;
- orphans: step processes (found by the marker in their command line) alive once the job
  completed.

It prints those figures; the exit code is 0 only when every one of them is 0.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import attrs

from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.state import Checkpoint, JobStore
from tests.process_scan import kill_marked, processes_with_marker

INVOCATION_LIMIT_SECS = 60.0  # an invocation left to finish that runs longer is stuck
MAX_INVOCATIONS = 40  # per job; more means the job is stuck
MAX_KILLS_PER_JOB = 6  # then the invocations are left to finish
KILL_CHANCE = 0.8

WORKFLOW = """\
name: torture
setup:
  - shell: ": {marker}; echo setup-1 >> {log}; sleep 0.15"
  - shell: ": {marker}; echo setup-2 >> {log}; sleep 0.15"
map:
  input: items.json
  id_field: id
  max_parallel: 4
  agent_template:
    - shell: >-
        : {marker}; echo item ${{item_id}} >> {log};
        sleep ${{item.sleep}}; test ! -e fail-${{item_id}}
reduce:
  - shell: ": {marker}; echo reduce-1 >> {log}; sleep 0.15"
  - shell: ": {marker}; echo reduce-2 >> {log}; sleep 0.15"
error_policy:
  on_item_failure: dlq
"""


@attrs.define
class Figures:
    """What the campaign counts; all but `kills`, `jobs` and `invocations` must stay 0."""

    kills: int = 0
    jobs: int = 0
    invocations: int = 0
    kills_by_command: Counter[str] = attrs.field(factory=Counter)
    kills_by_state: Counter[str] = attrs.field(factory=Counter)  # where the kill left the job
    lost: int = 0
    duplicated: int = 0
    failed: int = 0
    wrongly_rerun: int = 0
    steps_rerun: int = 0
    stuck: int = 0
    orphans: int = 0
    problems: list[str] = attrs.field(factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.failed or self.wrongly_rerun
                    or self.steps_rerun or self.stuck or self.orphans)

    def report(self) -> str:
        by_command = ", ".join(f"{name} {count}" for name, count in
                               sorted(self.kills_by_command.items()))
        by_state = ", ".join(f"{name} {count}" for name, count in
                             sorted(self.kills_by_state.items()))
        lines = [
            f"kills: {self.kills} ({by_command}) over {self.jobs} jobs and "
            f"{self.invocations} invocations",
            f"kills by the state they left: {by_state}",
            f"lost: {self.lost}",
            f"duplicated: {self.duplicated}",
            f"not successful at the end: {self.failed}",
            f"items wrongly re-run: {self.wrongly_rerun}",
            f"setup/reduce steps re-run after being saved done: {self.steps_rerun}",
            f"stuck: {self.stuck}",
            f"orphans: {self.orphans}",
        ]
        return "\n".join(lines + [f"problem: {problem}" for problem in self.problems[:20]])


@attrs.define
class TortureJob:
    """One job of the campaign, in its own directory, with its own step log."""

    directory: Path
    rng: random.Random
    figures: Figures
    items: int
    failing: int
    marker: str = attrs.field(factory=lambda: f"torture-{uuid.uuid4().hex}")
    job_id: str = "t"
    log_offset: int = 0
    kills: int = 0

    @property
    def state_dir(self) -> Path:
        return self.directory / "state"

    @property
    def log(self) -> Path:
        return self.directory / "steps.log"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True)
        items = [{"id": f"i{n}", "sleep": round(self.rng.uniform(0.02, 0.25), 3)}
                 for n in range(self.items)]
        (self.directory / "items.json").write_text(json.dumps(items), encoding="utf-8")
        for item in self.rng.sample(items, self.failing):
            (self.directory / f"fail-{item['id']}").touch()
        (self.directory / "torture.yml").write_text(
            WORKFLOW.format(marker=self.marker, log=self.log), encoding="utf-8")

    def store(self) -> JobStore:
        return JobStore(self.state_dir, self.job_id)

    def checkpoint(self) -> Checkpoint | None:
        try:
            return self.store().load_checkpoint() if self.store().path.is_dir() else None
        except JobStateError:
            return None

    def next_command(self) -> tuple[str, ...] | None:
        """The invocation that moves the job on; None once it is done."""
        if not self.store().path.is_dir():
            return ("run", "torture.yml", "--job-id", self.job_id, "--yes")
        checkpoint = self.checkpoint()
        if checkpoint is None or checkpoint.state != "completed":
            return ("resume", self.job_id, "--yes")
        if self.store().dlq.load():
            for flag in self.directory.glob("fail-*"):
                flag.unlink()  # the retry will succeed
            return ("dlq", "retry", self.job_id, "--yes")
        return None

    def drive(self) -> None:
        """Invoke runners, killing most, until the job is done; then check it."""
        for _ in range(MAX_INVOCATIONS):
            command = self.next_command()
            if command is None:
                self.check_end()
                return
            self.invoke(command)
        self.figures.stuck += 1
        self.figures.problems.append(f"{self.directory}: not done after {MAX_INVOCATIONS} runs")

    def invoke(self, command: tuple[str, ...]) -> None:
        done_items, done_steps = self.durable_before(command)
        argv = [sys.executable, "-m", "mapreduce_fsm", *command, "--state-dir",
                str(self.state_dir)]
        with (self.directory / "runner.err").open("ab") as err:
            runner = subprocess.Popen(argv, cwd=self.directory, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err,
                                      start_new_session=True)
            self.figures.invocations += 1
            kill = self.kills < MAX_KILLS_PER_JOB and self.rng.random() < KILL_CHANCE
            if kill and self.killed(runner, self.rng.uniform(0.05, 2.5), command[0]):
                self.kills += 1
            else:
                try:
                    runner.wait(timeout=INVOCATION_LIMIT_SECS)
                except subprocess.TimeoutExpired:
                    runner.kill()
                    runner.wait()
                    self.figures.stuck += 1
                    self.figures.problems.append(f"{self.directory}: {command} hung")
        self.check_reruns(done_items, done_steps)

    def killed(self, runner: subprocess.Popen[bytes], delay: float, command: str) -> bool:
        """SIGKILL the runner after `delay` if it still runs then; whether it was killed."""
        try:
            runner.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
            self.figures.kills += 1
            self.figures.kills_by_command[command] += 1
            checkpoint = self.checkpoint()
            self.figures.kills_by_state[
                "no checkpoint" if checkpoint is None else checkpoint.state] += 1
            return True
        return False

    def durable_before(self, command: tuple[str, ...]) -> tuple[set[str], set[str]]:
        """Items whose result is durable and steps saved done, as an invocation starts."""
        if not self.store().path.is_dir():
            return set(), set()
        store = self.store()
        try:
            items = set(store.results.load().results)
        except JobStateError:
            items = set()
        checkpoint = self.checkpoint()
        retrying = command[0] == "dlq"
        if retrying:
            items -= {entry.item_id for entry in store.dlq.load()}
        if checkpoint is not None:
            items -= set(checkpoint.retrying_items)
        steps = set()
        for phase in ("setup", "reduce"):
            progress = checkpoint.phases.get(phase) if checkpoint is not None else None
            if progress is None or (phase == "reduce" and retrying):
                continue
            done = 2 if progress.status == "completed" else progress.next_step
            steps |= {f"{phase}-{index + 1}" for index in range(done)}
        return items, steps

    def new_log_lines(self) -> list[list[str]]:
        try:
            with self.log.open("rb") as log:
                log.seek(self.log_offset)
                data = log.read()
        except FileNotFoundError:
            return []
        data = data[: data.rfind(b"\n") + 1]
        self.log_offset += len(data)
        return [line.split() for line in data.decode().splitlines() if line.strip()]

    def check_reruns(self, done_items: set[str], done_steps: set[str]) -> None:
        for line in self.new_log_lines():
            if line[0] == "item" and line[1] in done_items:
                self.figures.wrongly_rerun += 1
                self.figures.problems.append(f"{self.directory}: {line[1]} ran again")
            elif line[0] in done_steps:
                self.figures.steps_rerun += 1
                self.figures.problems.append(f"{self.directory}: {line[0]} ran again")

    def check_end(self) -> None:
        """The job completed: one successful result per item, no step process left."""
        time.sleep(0.05)  # let the runner's last steps' processes be reaped
        survivors = processes_with_marker(self.marker)
        if survivors:
            self.figures.orphans += len(survivors)
            self.figures.problems.append(f"{self.directory}: orphans {survivors}")
            kill_marked(self.marker)
        expected = {f"i{n}" for n in range(self.items)}
        lines = [json.loads(line)["item_id"] for line in
                 self.store().results.path.read_text(encoding="utf-8").splitlines()]
        results = self.store().results.load().results
        self.figures.lost += len(expected - set(results))
        self.figures.duplicated += sum(count - 1 for count in Counter(lines).values())
        self.figures.failed += sum(1 for result in results.values()
                                   if result.status != "success")


def run_campaign(kills: int, *, root: Path, seed: int, items: int = 16,
                 failing: int = 2) -> Figures:
    """Kill runners until `kills` kills have landed; the figures."""
    rng = random.Random(seed)
    figures = Figures()
    while figures.kills < kills:
        job = TortureJob(directory=root / f"job-{figures.jobs}", rng=rng, figures=figures,
                         items=items, failing=failing)
        figures.jobs += 1
        job.prepare()
        try:
            job.drive()
        finally:
            kill_marked(job.marker)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.torture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100, help="kill points (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--keep", action="store_true", help="keep the jobs' directories")
    options = parser.parse_args(argv)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(10**6)
    root = Path(tempfile.mkdtemp(prefix="mapreduce-fsm-torture-"))
    started = time.monotonic()
    print(f"torture: seed {seed}, {options.kills} kills, in {root}", flush=True)
    try:
        figures = run_campaign(options.kills, root=root, seed=seed)
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(figures.report())
    print(f"took {time.monotonic() - started:.0f}s")
    return 0 if figures.clean else 1


if __name__ == "__main__":
    sys.exit(main())
