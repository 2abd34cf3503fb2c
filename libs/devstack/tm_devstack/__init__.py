"""Local stack: what `make run` and the test suite start (see README, "Running it")."""
