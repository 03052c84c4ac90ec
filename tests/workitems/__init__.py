"""Tests of work-item loading and selection: sources, JSONPath, filter, sort, ids."""
