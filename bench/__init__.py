"""Benchmarks and fault drills against the real broker, the sandbox and the SMTP sink (not tests)."""
