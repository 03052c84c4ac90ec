"""`python -m mapreduce_fsm`: the same as the `mapreduce-fsm` command."""

from mapreduce_fsm.cli import main

if __name__ == "__main__":
    main()
