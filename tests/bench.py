"""`make bench`: the engine against `xargs -P` on trivial items, and a big job's commands.

Run as `python -m tests.bench` from the repository root. Parts 1 and 2: every map item
runs one step, `true`; our shell steps run as `sh -c`, so the baseline runs `sh -c true`
through `xargs -P` with the same parallelism. Parts 3 to 5 (tests/bench_jobs.py):
`status --json`, `jobs` and `resume` of jobs stopped with 99% of 10k and 100k items
done, the CLI's start, and one spawn. Part 6 (tests/bench_dask.py) sets the Dask
backend against the local backend; git worktree isolation (tests/bench_isolation.py) is
measured beside part 2. Each figure is printed beside a baseline taken in turns with it
in the same run. Timings never fail anything: the exit status is non-zero only when the
bench itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import attrs

from tests.bench_dask import dask_section
from tests.bench_launch import Launched

PARALLEL = 8
PACE_WINDOW = 1000
TARGET_RATIO = 2.0  # at 2,000 items
STANDING_TARGET_RATIO = 1.2  # at 10,000 items
WORKFLOW = """\
name: bench
map:
  input: items.json
  max_parallel: {parallel}
  agent_template:
    - shell: "true"
"""


class BenchError(Exception):
    """The bench could not run (a tool is missing, or the engine failed a run)."""


@attrs.frozen(kw_only=True)
class Run:
    """One timed run: wall seconds and the peak RSS of the process tree's root (KiB)."""

    wall_secs: float
    peak_rss_kib: int
    pace_ms: tuple[float, ...] = ()  # engine: ms per item over each PACE_WINDOW items finished


@attrs.frozen(kw_only=True)
class Sample:
    """Several runs of one command at one size; the median is what gets reported."""

    runs: tuple[Run, ...]

    @property
    def wall_secs(self) -> float:
        return statistics.median(run.wall_secs for run in self.runs)

    @property
    def peak_rss_kib(self) -> int:
        return max(run.peak_rss_kib for run in self.runs)


@attrs.define
class Bench:
    """Runs the engine and the baseline in a scratch directory, one fresh job per run."""

    root: Path
    parallel: int = PARALLEL
    _jobs: int = 0

    def workflow(self, items: int) -> Path:
        """A directory holding `items.json` with `items` numbers and the workflow file."""
        folder = self.root / f"items-{items}"
        if not folder.is_dir():
            folder.mkdir()
            (folder / "items.json").write_text(json.dumps(list(range(items))))
            (folder / "bench.yml").write_text(WORKFLOW.format(parallel=self.parallel))
        return folder / "bench.yml"

    def engine(self, items: int) -> Run:
        workflow = self.workflow(items)
        self._jobs += 1
        state_dir = self.root / f"state-{self._jobs}"
        argv = [sys.executable, "-m", "mapreduce_fsm", "run", "--yes", "-q",
                "--state-dir", str(state_dir), str(workflow)]
        try:
            run = timed(argv, cwd=workflow.parent, what=f"mapreduce-fsm run ({items} items)")
            return attrs.evolve(run, pace_ms=pace(state_dir))
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)

    def xargs(self, items: int) -> Run:
        script = f"seq {items} | xargs -P {self.parallel} -I{{}} sh -c true"
        return timed(["sh", "-c", script], cwd=self.root, what=f"xargs ({items} items)")

    def sample(self, run: Callable[[int], Run], items: int, times: int) -> Sample:
        return Sample(runs=tuple(run(items) for _ in range(times)))

    def paired(self, items: int, times: int) -> tuple[Sample, Sample]:
        """Engine and xargs runs taken in turns, so that the machine's drift (a shared
        VM's neighbours come and go) weighs on both alike."""
        pairs = [(self.engine(items), self.xargs(items)) for _ in range(times)]
        return (Sample(runs=tuple(engine for engine, _ in pairs)),
                Sample(runs=tuple(baseline for _, baseline in pairs)))


def pace(state_dir: Path) -> tuple[float, ...]:
    """From the job's own events: ms per item over each run of PACE_WINDOW finished items.

    Within one job this shows whether items get slower as the job goes on, free of the
    drift between runs that comparing two jobs of different sizes suffers from.
    """
    finished = sorted(
        datetime.fromisoformat(event["at"]).timestamp()
        for events in state_dir.glob("jobs/*/events.jsonl")
        for event in map(json.loads, events.read_text().splitlines())
        if event["type"] == "item.finished"
    )
    return tuple(
        (finished[start + PACE_WINDOW - 1] - finished[start]) * 1000 / (PACE_WINDOW - 1)
        for start in range(0, len(finished) - PACE_WINDOW + 1, PACE_WINDOW)
    )


def within_job_growth(paces: Sequence[float]) -> float:
    """How much slower a job's last three pace windows are than its first three (medians)."""
    return statistics.median(paces[-3:]) / statistics.median(paces[:3])


def timed(argv: Sequence[str], *, cwd: Path, what: str) -> Run:
    """Run `argv` to its end; its wall time and peak RSS, as its own (tests/bench_launch.py)."""
    log = cwd / "bench-stderr.txt"
    with log.open("wb") as stderr:
        ended = Launched(argv, cwd=cwd, stderr=stderr).wait()
    if ended.exit_code != 0:
        detail = log.read_text(errors="replace").strip()[-2000:]
        raise BenchError(f"{what} exited with code {ended.exit_code}: {detail}")
    return Run(wall_secs=ended.wall_secs, peak_rss_kib=ended.peak_rss_kib)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def compare(bench: Bench, items: int, runs: int) -> float:
    """Part 1: engine vs xargs at `items`; returns the ratio of the medians."""
    engine, baseline = bench.paired(items, runs)
    ratio = engine.wall_secs / baseline.wall_secs
    print(f"1. {items} items of `true`, max_parallel {bench.parallel}, median of {runs} runs "
          "(the two taken in turns)")
    print(f"   baseline: seq {items} | xargs -P {bench.parallel} -I{{}} sh -c true "
          "(our shell steps run as `sh -c`, so the baseline does too)")
    print(f"   {'':<16}{'median':>10}  runs")
    for name, sample in (("mapreduce-fsm", engine), ("xargs -P", baseline)):
        walls = ", ".join(f"{run.wall_secs:.2f}" for run in sample.runs)
        print(f"   {name:<16}{sample.wall_secs:>9.2f}s  {walls}")
    print(f"   ratio {ratio:.2f} (target <= {TARGET_RATIO:.1f})")
    print()
    return ratio


@attrs.frozen(kw_only=True)
class Scale:
    """Part 2 at one job size."""

    items: int
    engine: Sample
    baseline: Sample
    startup_secs: float

    @property
    def engine_per_item(self) -> float:
        """The engine's wall time per item, its fixed start-up cost taken out."""
        return (self.engine.wall_secs - self.startup_secs) / self.items

    @property
    def overhead_per_item(self) -> float:
        """What the engine adds per item over xargs, start-up taken out."""
        return (self.engine.wall_secs - self.startup_secs - self.baseline.wall_secs) / self.items


def scale(bench: Bench, sizes: Sequence[tuple[int, int]], startup_secs: float) -> list[Scale]:
    """Part 2: per-item cost and peak RSS at each (items, runs)."""
    rows = [
        Scale(items=items, engine=engine, baseline=baseline, startup_secs=startup_secs)
        for items, runs in sizes
        for engine, baseline in [bench.paired(items, runs)]
    ]
    print(f"2. per item, the engine's start-up (a 1-item run, {startup_secs:.2f}s) taken out: "
          "its wall time, and what it adds over xargs")
    print(f"   {'items':>6} {'runs':>4} {'engine':>8} {'xargs':>8} {'engine/item':>12} "
          f"{'over xargs':>11} {'peak RSS':>10}")
    for row in rows:
        print(f"   {row.items:>6} {len(row.engine.runs):>4} {row.engine.wall_secs:>7.2f}s "
              f"{row.baseline.wall_secs:>7.2f}s {ms(row.engine_per_item):>12} "
              f"{ms(row.overhead_per_item):>11} {row.engine.peak_rss_kib / 1024:>7.1f} MiB")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--large-runs", type=int, default=3, help="runs of the 10,000-item job")
    parser.add_argument("--job-sizes", default="10000,100000",
                        help="items of the stopped jobs of part 3, comma-separated")
    options = parser.parse_args(argv)
    for tool in ("sh", "seq", "xargs"):
        if shutil.which(tool) is None:
            print(f"bench: cannot run: {tool!r} is not on PATH", file=sys.stderr)
            return 2
    # An installed package has its bytecode compiled (pip does it); an editable install
    # under PYTHONDONTWRITEBYTECODE would compile every module on every run instead.
    package = Path(__file__).resolve().parents[1] / "mapreduce_fsm"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    print(f"mapreduce-fsm bench: Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print()
    from tests.bench_jobs import big_jobs, light_start, spawn_cost

    with tempfile.TemporaryDirectory(prefix="mapreduce-fsm-bench-") as scratch:
        bench = Bench(root=Path(scratch))
        try:
            ratio = compare(bench, 2000, options.runs)
            startup = bench.sample(bench.engine, 1, options.runs).wall_secs
            rows = scale(bench, [(1000, options.runs), (10_000, options.large_runs)], startup)
            summary = per_item_summary(rows, ratio)
            print()
            dask_ratio = dask_section(Path(scratch), min(options.runs, 3))
            big_jobs(Path(scratch), [int(n) for n in options.job_sizes.split(",")], options.runs)
            light_start(Path(scratch), options.runs)
            spawn_cost(500)
        except (BenchError, RuntimeError) as error:
            print(f"bench: cannot run: {error}", file=sys.stderr)
            return 2
    print(summary)
    if dask_ratio is not None:
        dask_verdict = "meets" if dask_ratio <= TARGET_RATIO else "misses"
        print(f"         batched dask backend {dask_ratio:.2f}x the local backend's per-item "
              f"cost {dask_verdict} the <= {TARGET_RATIO:.1f}x target")
    return 0


def per_item_summary(rows: Sequence[Scale], ratio: float) -> str:
    """Prints the end of part 2; returns the verdict on parts 1 and 2."""
    small, large = rows[0], rows[-1]
    growth = large.engine_per_item / small.engine_per_item
    print(f"   engine time per item, {large.items} items against {small.items}: {growth:.2f}x "
          "(1.0: it does not grow with the job; runs minutes apart drift on a shared machine)")
    paces = large.engine.runs[-1].pace_ms
    growths = [within_job_growth(run.pace_ms) for run in large.engine.runs]
    within = statistics.median(growths)
    print(f"   inside one {large.items}-item job, ms per item over each {PACE_WINDOW} items "
          f"finished: {', '.join(f'{ms_:.2f}' for ms_ in paces)}")
    print(f"   last {3 * PACE_WINDOW} items against the first {3 * PACE_WINDOW}: {within:.2f}x "
          f"(median of the {len(growths)} runs: {', '.join(f'{g:.2f}' for g in growths)})")
    print()
    if shutil.which("git") is not None:
        from tests.bench_isolation import report as isolation_report

        isolation_report()
    speed = "meets" if ratio <= TARGET_RATIO else "misses"
    flat = "does not grow" if within <= 1.25 else "grows"
    standing = large.engine.wall_secs / large.baseline.wall_secs
    standing_speed = "meets" if standing <= STANDING_TARGET_RATIO else "misses"
    return (f"verdict: {standing:.2f}x xargs at {large.items} items {standing_speed} the "
            f"standing <= {STANDING_TARGET_RATIO:.1f}x target; {ratio:.2f}x at 2000 items "
            f"{speed} the <= {TARGET_RATIO:.1f}x target; the time per item {flat} as a job "
            f"gets longer ({within:.2f}x from its first to its last {3 * PACE_WINDOW} items; "
            f"{growth:.2f}x from a {small.items}- to a {large.items}-item job)")


if __name__ == "__main__":
    sys.exit(main())
