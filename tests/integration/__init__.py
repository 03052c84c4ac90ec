"""Command-line tests: real workflows through `python -m mapreduce_fsm` in temporary directories."""
