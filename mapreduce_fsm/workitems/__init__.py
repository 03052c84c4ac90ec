"""workitems."""
