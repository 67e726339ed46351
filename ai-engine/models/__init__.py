"""Anomaly, seasonal, multivariate and forecasting models of the AI engine."""
