"""nngraph's benchmark suites: ``python -m benchmarks`` runs them all (see ``__main__``)."""
