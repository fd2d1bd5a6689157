"""Benchmarks, one module each; run them from the repo root as `python -m bench.<name>`
(`make bench` runs them all). Figures and their commands are in bench/RESULTS.md."""
