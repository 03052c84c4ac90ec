"""Tests of the agent (one item through the template) and the item scheduler."""
