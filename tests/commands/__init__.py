"""Tests of the step runner and interpolation."""
