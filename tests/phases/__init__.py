"""Tests of the phase engine: machine, coordinator, executors, custom phases, crash/resume."""
