"""Tests of the backends that run work orders."""
