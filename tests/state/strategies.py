"""Hypothesis strategies for the records and checkpoints the job directory stores."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mapreduce_fsm.state import Checkpoint, PhaseProgress, TransitionRecord
from mapreduce_fsm.state.records import ItemResult, ItemStatus

text = st.text(max_size=12)
ids = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=4)

statuses: st.SearchStrategy[ItemStatus] = st.sampled_from(
    ["success", "failed", "timeout", "skipped"]
)


@st.composite
def item_results(draw: st.DrawFn, item_id: str | None = None) -> ItemResult:
    return ItemResult(
        item_id=item_id if item_id is not None else draw(ids),
        item_index=draw(st.integers(min_value=0, max_value=10_000)),
        item=draw(json_values),
        status=draw(statuses),
        exit_code=draw(st.none() | st.integers(min_value=-255, max_value=255)),
        output=draw(st.text(max_size=30)),
        error=draw(st.none() | text),
        failed_step=draw(st.none() | text),
        attempts=draw(st.integers(min_value=1, max_value=5)),
        started_at=draw(text),
        finished_at=draw(text),
        duration_secs=draw(st.floats(min_value=0, max_value=1e6)),
        captures=draw(json_objects),
    )


phase_progress = st.builds(
    PhaseProgress,
    status=st.sampled_from(["pending", "running", "completed", "skipped", "failed", "paused"]),
    next_step=st.integers(min_value=0, max_value=100),
    data=json_objects,
    error=st.none() | text,
    started_at=st.none() | text,
    finished_at=st.none() | text,
)

transitions = st.builds(
    TransitionRecord, trigger=text, source=text, dest=text, at=text, reason=st.none() | text
)

checkpoints = st.builds(
    Checkpoint,
    job_id=ids,
    workflow_name=text,
    workflow_digest=text,
    workflow_path=st.none() | text,
    input_digest=st.none() | text,
    working_dir=text,
    state=text,
    phase_order=st.lists(ids, max_size=5).map(tuple),
    resume_phase=st.none() | ids,
    history=st.lists(transitions, max_size=4).map(tuple),
    phases=st.dictionaries(ids, phase_progress, max_size=4),
    variables=json_objects,
    created_at=text,
    updated_at=text,
)
