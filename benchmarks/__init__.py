"""Benchmark harness for pexen: ``python -m benchmarks`` (see README.md)."""
