"""Tests of the workflow model: loading, strictness, every message for a bad file."""
