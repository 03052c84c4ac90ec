"""Tests of the expression languages: interpolation, filters, sort keys."""
