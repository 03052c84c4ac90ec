"""The map's bookkeeping behind one object: final results, failed attempts, dead letters.

A dead-lettered item runs again only when its result was taken away (`dlq retry`). It
then starts a fresh round of attempts: only attempts made after its DLQ entry was added
count, so it gets the whole retry budget again, and if it fails again its new attempts
are appended to the history kept in its DLQ entry. If it succeeds it leaves the DLQ.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from mapreduce_fsm.convert import utc_now
from mapreduce_fsm.state.dlq import DeadLetterStore
from mapreduce_fsm.state.jobstore import JobStore
from mapreduce_fsm.state.journal import AttemptJournal, ResultsJournal
from mapreduce_fsm.state.records import AttemptRecord, DlqEntry, ItemResult


def current_round(
    attempts: Mapping[str, list[AttemptRecord]], dead_letters: Mapping[str, DlqEntry]
) -> dict[str, list[AttemptRecord]]:
    """Each item's attempts in its current round: for a dead-lettered item, those made
    after its DLQ entry was added (the earlier ones are in the entry's history)."""
    current = {}
    for item_id, history in attempts.items():
        entry = dead_letters.get(item_id)
        if entry is not None:
            history = [attempt for attempt in history if attempt.at > entry.added_at]
        if history:
            current[item_id] = history
    return current


@attrs.frozen(kw_only=True)
class Recorded:
    """What recording a final result did besides appending it."""

    dead_letter: DlqEntry | None = None  # the entry added (or replaced) for the item
    left_dlq: bool = False  # the item succeeded and its old entry was removed


@attrs.define
class MapLedger:
    """The results journal, the attempts journal and the DLQ as the map executor sees them:
    loaded once as the map starts, then kept current as items end."""

    results: ResultsJournal
    attempts: AttemptJournal
    dlq: DeadLetterStore
    dead_letters: dict[str, DlqEntry]  # the DLQ, by item id
    rounds: dict[str, list[AttemptRecord]]  # failed attempts of each item's current round
    counts: dict[str, int] = attrs.field(
        factory=lambda: {"success": 0, "failed": 0, "skipped": 0, "dead_lettered": 0}
    )  # of the results recorded through this ledger

    @classmethod
    def load(cls, store: JobStore) -> MapLedger:
        """Read the job's journals and DLQ. Entries of items that succeeded are dropped from
        the DLQ: a crash between recording the success and removing the entry leaves one."""
        finished = store.results.statuses()
        entries = {entry.item_id: entry for entry in store.dlq.load()}
        recovered = [item_id for item_id in entries
                     if finished.get(item_id) == "success"]
        if recovered:
            store.dlq.remove(recovered)
        dead_letters = {item_id: entry for item_id, entry in entries.items()
                        if item_id not in recovered}
        return cls(
            results=store.results, attempts=store.attempts, dlq=store.dlq,
            dead_letters=dead_letters,
            rounds=current_round(store.attempts.load(), dead_letters),
        )

    @property
    def finished(self) -> Mapping[str, str]:
        """Every item's final status, by item id (not whole results: a resume of 100,000
        items needs no more, and memory stays small); the journal keeps it current."""
        return self.results.statuses()

    def attempts_of(self, item_id: str) -> list[AttemptRecord]:
        """The item's failed attempts in its current round, oldest first."""
        return list(self.rounds.get(item_id, ()))

    def record_attempt(self, attempt: AttemptRecord) -> None:
        """A failed attempt; its `retry_at` says when the next one may start, if any."""
        self.attempts.append(attempt)
        self.rounds.setdefault(attempt.item_id, []).append(attempt)

    def record_result(self, result: ItemResult, *, dead_letter_signature: str | None) -> Recorded:
        """The item's final result; with a signature, the item also goes to the DLQ."""
        entry = None
        if dead_letter_signature is not None:
            # The entry is durable before the result: a crash between the two leaves an
            # item without a result, which runs again, never a failure missing from the DLQ.
            entry = self._dead_letter(result, dead_letter_signature)
        self.results.append(result)
        self.counts["failed" if result.status == "timeout" else result.status] += 1
        left = False
        if result.status == "success" and self.dead_letters.pop(result.item_id, None) is not None:
            self.results.sync()  # the result is durable before the entry goes
            self.dlq.remove([result.item_id])
            left = True
        return Recorded(dead_letter=entry, left_dlq=left)

    def sync(self) -> None:
        self.results.sync()

    def _dead_letter(self, result: ItemResult, signature: str) -> DlqEntry:
        """Add the item to the DLQ; an item already there gets this round's attempts appended
        to its history, numbered on from the earlier rounds'."""
        earlier = self.dead_letters.get(result.item_id)
        previous = earlier.attempts if earlier is not None else ()
        history = previous + tuple(
            attrs.evolve(attempt, attempt=len(previous) + attempt.attempt)
            for attempt in self.rounds.get(result.item_id, ())
        )
        entry = DlqEntry(
            item_id=result.item_id, item_index=result.item_index, item=result.item,
            attempts=history, signature=signature, added_at=utc_now(),
        )
        self.dlq.add(entry)
        self.dead_letters[result.item_id] = entry
        self.counts["dead_lettered"] += 1
        return entry
