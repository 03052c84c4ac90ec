"""Tests of the error policy: backoff, failure budget, circuit breaker, signatures."""
