"""Benchmarks: `make bench` (python -m bench.run) measures and writes bench/results.json."""
