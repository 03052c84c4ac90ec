"""Tests of the job directory: checkpoint, journals, DLQ, events, lock, job store."""
