"""Loading and validating workflow files into the attrs model (`config.model`).

>>> from mapreduce_fsm.config import load_workflow_text
>>> text = "name: demo\\nmap: {input: items.json, agent_template: [{shell: echo}]}"
>>> load_workflow_text(text).name
'demo'
"""

from mapreduce_fsm.config.durations import parse_duration
from mapreduce_fsm.config.loader import describe_workflow, load_workflow, load_workflow_text
from mapreduce_fsm.config.model import Workflow

__all__ = ["Workflow", "describe_workflow", "load_workflow", "load_workflow_text", "parse_duration"]
