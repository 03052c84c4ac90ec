"""Tests of the console: progress display and prompts."""
