"""Evaluate Sentio's detectors on the Numenta Anomaly Benchmark (NAB) corpus."""
