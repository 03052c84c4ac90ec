"""Running one work item: the agent, and the scheduler that runs them all under the error policy."""

from mapreduce_fsm.agents.agent import Agent, AgentOutcome, describe_failure

__all__ = ["Agent", "AgentOutcome", "describe_failure"]
