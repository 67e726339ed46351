"""Deployment beyond one machine: Kubernetes manifests generated from the pinned versions."""
