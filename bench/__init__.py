"""Benchmarks, run on demand with `make bench`; each prints ratios measured in one run."""
