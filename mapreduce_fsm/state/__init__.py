"""The job directory: checkpoint, results and attempt journals, dead-letter queue, events, lock;
the map's ledger over the journals and the queue."""

from mapreduce_fsm.state.atomic import write_atomic
from mapreduce_fsm.state.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    Checkpoint,
    PhaseProgress,
    PhaseStatus,
    TransitionRecord,
    workflow_digest,
)
from mapreduce_fsm.state.dlq import DeadLetterStore
from mapreduce_fsm.state.events import EventCallback, EventLog
from mapreduce_fsm.state.jobstore import (
    STATE_DIR_ENV,
    JobStore,
    JobSummary,
    check_job_id,
    list_jobs,
    new_job_id,
    resolve_state_dir,
)
from mapreduce_fsm.state.journal import AttemptJournal, LoadedResults, ResultsJournal
from mapreduce_fsm.state.ledger import MapLedger
from mapreduce_fsm.state.lock import JobLock

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "STATE_DIR_ENV",
    "AttemptJournal",
    "Checkpoint",
    "DeadLetterStore",
    "EventCallback",
    "EventLog",
    "JobLock",
    "JobStore",
    "JobSummary",
    "LoadedResults",
    "MapLedger",
    "PhaseProgress",
    "PhaseStatus",
    "ResultsJournal",
    "TransitionRecord",
    "check_job_id",
    "list_jobs",
    "new_job_id",
    "resolve_state_dir",
    "workflow_digest",
    "write_atomic",
]
