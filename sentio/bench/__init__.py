"""Benchmarks against the real backends."""
