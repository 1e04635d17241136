"""The stack harness shared by tests/ and bench/: a worker, several workers, the broker, HTTP helpers."""
