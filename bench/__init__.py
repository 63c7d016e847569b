"""genlab benchmarks: ``python -m bench.run [--smoke] [--only a,b,...]`` (see bench/run.py)."""
