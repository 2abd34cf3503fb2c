"""Helpers of the test suites, by area (importable as `support.<area>`: pytest puts tests/ on
the path). Nothing here is part of what `make run` runs."""
