"""Benchmarks: `python -m bench.automl` compares our trainer with FLAML (see bench/automl.py)."""
