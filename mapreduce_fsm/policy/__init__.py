"""The map's error policy: retry backoff, when to stop, the circuit breaker, failure signatures."""

from mapreduce_fsm.policy.backoff import retry_delay
from mapreduce_fsm.policy.budget import FailureBudget, StopDecision
from mapreduce_fsm.policy.circuit import CircuitBreaker, CircuitState
from mapreduce_fsm.policy.signature import error_signature

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "FailureBudget",
    "StopDecision",
    "error_signature",
    "retry_delay",
]
