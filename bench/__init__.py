"""Benchmarks: `make bench` (or `python -m bench`) prints each goal, the raw baseline measured
in the same run, and our ratio. Each measurement runs in its own process for clean RSS."""
