"""Sentio's AI engine: streaming anomaly detectors and their evaluation on labelled corpora."""
