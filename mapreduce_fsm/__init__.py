"""mapreduce_fsm: run MapReduce workflows written in YAML on a checkpointed state machine."""
