"""Tests of whole-job operations: the dead-letter queue from Python."""
