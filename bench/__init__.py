"""Benchmark and soak scripts: each runs from the checkout as ``.venv/bin/python -m bench.<script>``
(``--help`` lists its options), so the checkout's exporter and testkit/ come from the checkout
itself and nothing touches sys.path.  The suite imports every module (tests/test_static.py) but
times nothing; the figures go to BENCHMARKS.md and docs/."""
