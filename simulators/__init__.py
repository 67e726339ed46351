"""Simulated devices for tests and demos, served by real protocol servers."""
