"""Running one work order (one attempt at one item) and the data it is made of."""

from mapreduce_fsm.agents.agent import describe_failure, item_outcome, run_work_order
from mapreduce_fsm.agents.order import AgentSpec, ItemOutcome, WorkOrder

__all__ = [
    "AgentSpec",
    "ItemOutcome",
    "WorkOrder",
    "describe_failure",
    "item_outcome",
    "run_work_order",
]
