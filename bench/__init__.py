"""Benchmarks of the Workflow Service: ``invoke bench`` runs them all (bench/suite.py)."""

# The Redis database the benchmarks' own stacks use, away from the tests' (13, 14).
BENCH_REDIS_DB = 12
