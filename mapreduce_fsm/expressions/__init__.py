"""The expression languages: `${...}` interpolation, filter/`when`, sort keys, JSONPath.

A leaf package: it imports nothing of the project but `mapreduce_fsm.errors`.
"""
