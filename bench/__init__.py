"""Benchmarks and load tools for gtindex (`make bench`); not part of the installed package.

Run from the repository root: `python -m bench.bench --corpus DIR`.
"""
