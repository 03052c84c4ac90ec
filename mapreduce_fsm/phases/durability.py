"""What a run does so that every item keeps one final result and no step outlives its runner.

The coordinator calls these: before a resume or a retry runs anything, `end_leftover_groups`
ends the steps a killed runner left running and `check_results_kept` compares the results
journal with the count the checkpoint saved; while the item phase runs, `count_durable_results`
keeps that count current; a retry takes its items' results away with `take_retried_results`.
"""

from __future__ import annotations

import asyncio

import attrs

from mapreduce_fsm.console.interaction import UserInteraction
from mapreduce_fsm.errors import JobStateError
from mapreduce_fsm.phases.context import CheckpointKeeper
from mapreduce_fsm.state import Checkpoint, JobStore

# How often the item phase saves the count of durable results in the checkpoint: often
# enough that a lost journal is noticed, rarely enough that it costs nothing per item.
RESULTS_COUNT_INTERVAL_SECS = 1.0


async def end_leftover_groups(
    store: JobStore, interaction: UserInteraction, grace_secs: float
) -> int:
    """End the steps a killed runner of this job left running; say how many (and return it)."""
    ended = await store.processes.end_leftovers(grace_secs)
    if ended:
        groups = ("1 leftover step process group" if len(ended) == 1
                  else f"{len(ended)} leftover step process groups")
        interaction.display_warning(
            f"ended {groups} of job {store.job_id}, left running by a runner that was "
            "killed, before running the job's steps again")
        store.events.emit("job.orphans_ended", count=len(ended), pgids=ended)
    return len(ended)


def check_results_kept(
    store: JobStore, checkpoint: Checkpoint, *, force: bool, interaction: UserInteraction
) -> Checkpoint:
    """The checkpoint to go on with, if the results journal holds every result it counted.

    Fewer results than counted: JobStateError naming the file and the count, unless
    `force`, which warns and goes on with the count lowered (the map runs the lost items
    again if it runs). Items a retry is taking the results of are not counted as lost.
    """
    have = len(store.results.statuses())  # ids alone: 100,000 whole results cost a second
    expected = checkpoint.durable_results - len(checkpoint.retrying_items)
    if have >= expected:
        return checkpoint
    lost, path = checkpoint.durable_results - have, store.results.path
    if not force:
        raise JobStateError(
            f"job {store.job_id}: {path} holds {have} item results, but "
            f"{checkpoint.durable_results} were saved before: {lost} are lost (the file was "
            "deleted, cut short or replaced). Restore the file from a backup, or re-run with "
            "--force to go on without them (a map that has not finished runs those items "
            "again; phases after the map see only the results left)."
        )
    interaction.display_warning(
        f"{lost} item results are lost from {path} (--force: going on without them)")
    store.events.emit("job.results_lost", lost=lost, file=str(path))
    return attrs.evolve(checkpoint, durable_results=have)


def take_retried_results(store: JobStore, keeper: CheckpointKeeper) -> None:
    """Remove the results of the items a retry re-runs, then clear the checkpoint's mark.

    Done again by a resume after a kill (the map has not run yet, so it removes the same
    results). The count goes down before the journal does, so it never exceeds it.
    """
    retried = set(keeper.checkpoint.retrying_items)
    kept = [result for item_id, result in store.results.load().results.items()
            if item_id not in retried]
    keeper.update(durable_results=len(kept))
    store.results.rewrite(kept)
    keeper.update(retrying_items=())


async def count_durable_results(store: JobStore, keeper: CheckpointKeeper) -> None:
    """Until cancelled: save the count of durable results when it changed, every interval.

    A checkpoint that cannot be written stops the counting only: the phase's next move
    writes the checkpoint too, and reports the failure.
    """
    while True:
        await asyncio.sleep(RESULTS_COUNT_INTERVAL_SECS)
        count = store.results.durable_count
        if count is not None and count != keeper.checkpoint.durable_results:
            try:
                keeper.update(durable_results=count)
            except OSError:
                return
