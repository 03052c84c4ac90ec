"""Tests of running one work order, and of the orders and outcomes as data."""
