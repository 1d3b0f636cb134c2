"""Real parts for the tests and the benchmarks, written once: ports, processes, bounded waits, raw
Runtime API commands, certificates, scripted sockets, synthetic answers.

Neither the exporter nor test code: tests/ and bench/ import it, exporter/ never does, and it is
not installed with the package.  Nothing here needs pytest, so a benchmark runs without it.
"""
