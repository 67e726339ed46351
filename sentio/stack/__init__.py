"""Native backends: build, run, query."""
