"""`make bench`, parts 3 to 5: a big job's `status`, `jobs` and `resume`; the CLI's start; spawns.

A job of N items stopped with 99% of them done is made the way a user gets one: the
engine runs it and is interrupted (its step sends SIGINT to the engine until a file
`go` exists), then the results and events of the done items are appended as the map
writes them, through the journal and the event log. Each command is timed against
`python -c "import click, yaml"` taken in turns with it: the floor any Python CLI pays.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.state import EventLog, ResultsJournal
from mapreduce_fsm.state.records import ItemResult
from tests.bench import BenchError, Run, timed
from tests.bench_launch import Launched

STOPPED_WORKFLOW = """\
name: big
map:
  input: items.json
  max_parallel: 8
  agent_template:
    - shell: "[ -e go ] || kill -INT $PPID"
"""
BASELINE = [sys.executable, "-c", "import click, yaml"]
ENGINE = [sys.executable, "-m", "mapreduce_fsm"]
TARGET_SECS = 0.3  # status --json, jobs
TARGET_RESUME_SECS = 0.5
TARGET_MIB = 60
TARGET_HELP_RATIO = 3.0


@attrs.frozen(kw_only=True)
class StoppedJob:
    folder: Path  # holds items.json and the workflow; the job's working directory
    state_dir: Path
    job_id: str
    items: int
    done: int


def stopped_job(root: Path, items: int, done: int) -> StoppedJob:
    """A job of `items` items interrupted in its map with `done` of them finished."""
    folder = root / f"stopped-{items}"
    folder.mkdir()
    (folder / "items.json").write_text(json.dumps(list(range(items))))
    (folder / "big.yml").write_text(STOPPED_WORKFLOW)
    state_dir = folder / "state"
    run = subprocess.run([*ENGINE, "run", "--yes", "-q", "--state-dir", str(state_dir),
                          "big.yml"], cwd=folder, capture_output=True, text=True, check=False)
    jobs = list((state_dir / "jobs").iterdir()) if (state_dir / "jobs").is_dir() else []
    if run.returncode != 130 or len(jobs) != 1:
        raise BenchError(f"could not make a stopped job (exit {run.returncode}): {run.stderr}")
    job = jobs[0]
    # Written as the map writes them: through the journal (it keeps the counts) and the log.
    results = ResultsJournal(job / "results.jsonl")
    results.load()
    events = EventLog(job / "events.jsonl", job.name)
    at = utc_now()
    for index in range(done):
        item_id = f"item-{index}"
        events.emit("item.started", phase="map", item_id=item_id, attempt=1)
        results.append(ItemResult(item_id=item_id, item_index=index, item=index,
                                  status="success", exit_code=0, started_at=at,
                                  finished_at=at, duration_secs=0.01))
        events.emit("item.finished", phase="map", item_id=item_id, status="success",
                    attempts=1, duration_secs=0.01, error=None)
    results.close()
    events.close()
    (folder / "go").touch()
    return StoppedJob(folder=folder, state_dir=state_dir, job_id=job.name, items=items,
                      done=done)


def to_first_new_item(job: StoppedJob) -> tuple[float, Run]:
    """Resume the job: seconds until its first new item starts (its event is written), and
    the whole resume's run (to its end, the remaining items done)."""
    events = job.state_dir / "jobs" / job.job_id / "events.jsonl"
    size = events.stat().st_size
    log = job.folder / "resume-stderr.txt"
    with log.open("wb") as stderr, events.open("rb") as file:
        launched = Launched([*ENGINE, "resume", "--yes", "-q", "--state-dir",
                             str(job.state_dir), job.job_id], cwd=job.folder, stderr=stderr)
        file.seek(size)
        first, pending = None, b""
        while first is None and launched.running():
            pending += file.read()
            if b'"type":"item.started"' in pending:
                first = time.monotonic() - launched.started
                break
            time.sleep(0.002)
        ended = launched.wait()
    if ended.exit_code != 0 or first is None:
        detail = log.read_text(errors="replace")[-2000:]
        raise BenchError(f"resume of {job.items} items exited with code {ended.exit_code}: "
                         f"{detail}")
    return first, Run(wall_secs=ended.wall_secs, peak_rss_kib=ended.peak_rss_kib)


def median_run(argv: Sequence[str], cwd: Path, runs: int, what: str) -> tuple[float, int]:
    """Median wall seconds and the largest peak RSS (KiB) of `runs` runs of `argv`."""
    done = [timed(argv, cwd=cwd, what=what) for _ in range(runs)]
    return statistics.median(r.wall_secs for r in done), max(r.peak_rss_kib for r in done)


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def big_jobs(root: Path, sizes: Sequence[int], runs: int) -> None:
    """Part 3: status --json, jobs and resume on jobs stopped with 99% done."""
    print(f"3. a job stopped with 99% of its items done: median of {runs} runs, peak RSS; "
          "the floor, `python -c \"import click, yaml\"`, taken in the same turns")
    print(f"   {'items':>7} {'command':<16}{'wall':>9}{'floor':>9}{'peak RSS':>11}  target")
    for items in sizes:
        job = stopped_job(root, items, done=items - items // 100)
        state = ["--state-dir", str(job.state_dir)]
        for name, argv, target in (
            ("status --json", [*ENGINE, "status", job.job_id, "--json", *state], TARGET_SECS),
            ("jobs", [*ENGINE, "jobs", *state], TARGET_SECS),
        ):
            walls, floors, peak = [], [], 0
            for _ in range(runs):
                run = timed(argv, cwd=job.folder, what=name)
                walls.append(run.wall_secs)
                peak = max(peak, run.peak_rss_kib)
                floors.append(timed(BASELINE, cwd=job.folder, what="the floor").wall_secs)
            wall = statistics.median(walls)
            print(f"   {items:>7} {name:<16}{wall:>8.3f}s{statistics.median(floors):>8.3f}s"
                  f"{peak / 1024:>7.1f} MiB  <= {target}s, {TARGET_MIB} MiB: "
                  f"{verdict(wall, target)}, {verdict(peak / 1024, TARGET_MIB)}")
        first, resume = to_first_new_item(job)
        print(f"   {items:>7} {'resume, 1st item':<16}{first:>8.3f}s{'':>9}"
              f"{resume.peak_rss_kib / 1024:>7.1f} MiB  <= {TARGET_RESUME_SECS}s, "
              f"{TARGET_MIB} MiB: {verdict(first, TARGET_RESUME_SECS)}, "
              f"{verdict(resume.peak_rss_kib / 1024, TARGET_MIB)} "
              f"(the resume ran its {items // 100} items in {resume.wall_secs:.2f}s)")
    print()


def light_start(root: Path, runs: int) -> float:
    """Part 4: `--help` and `validate` against the floor, taken in turns; returns --help's ratio."""
    workflow = root / "start.yml"
    workflow.write_text("name: start\nmap:\n  input: items.json\n  agent_template:\n"
                        "    - shell: 'true'\n")
    commands = {"--help": [*ENGINE, "--help"], "validate": [*ENGINE, "validate", str(workflow)]}
    walls: dict[str, list[float]] = {name: [] for name in ["floor", *commands]}
    for _ in range(runs):
        walls["floor"].append(timed(BASELINE, cwd=root, what="the floor").wall_secs)
        for name, argv in commands.items():
            walls[name].append(timed(argv, cwd=root, what=name).wall_secs)
    floor = statistics.median(walls["floor"])
    print(f"4. start-up, median of {runs} runs taken in turns: floor "
          f"`python -c \"import click, yaml\"` {floor * 1000:.0f} ms")
    ratio = 0.0
    for name in commands:
        wall = statistics.median(walls[name])
        print(f"   mapreduce-fsm {name:<10}{wall * 1000:>6.0f} ms  {wall / floor:.2f}x the floor")
        ratio = ratio or wall / floor
    print(f"   --help: {ratio:.2f}x (target <= {TARGET_HELP_RATIO:.0f}x): "
          f"{verdict(ratio, TARGET_HELP_RATIO)}")
    print()
    return ratio


def spawn_cost(spawns: int, rounds: int = 5) -> None:
    """Part 5: what one posix_spawn of /bin/true costs the engine's process, with the few
    signals Python ignores named in setsigdef (glibc then asks every other signal's
    disposition before setting it) and with every signal named (as the runner does)."""
    from mapreduce_fsm.commands.process import _PYTHON_IGNORED, _signals_to_default

    ways = {"3 signals named": _PYTHON_IGNORED, "all named": _signals_to_default()}
    costs: dict[str, list[float]] = {name: [] for name in ways}
    true = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"
    for _ in range(rounds):
        for name, signals in ways.items():
            started = time.perf_counter()
            for _ in range(spawns):
                pid = os.posix_spawn(true, ["true"], os.environ, setsid=True,
                                     setsigdef=signals)
                os.waitpid(pid, 0)
            costs[name].append((time.perf_counter() - started) / spawns)
    print(f"5. one spawn and wait of `true`, median of {rounds} rounds of {spawns} in turns")
    for name, samples in costs.items():
        print(f"   {name:<18}{statistics.median(samples) * 1e6:>8.0f} µs")
    print()
