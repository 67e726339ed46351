"""Dashboards and alert rules as code: declared once, rendered for each target.

``model`` holds the descriptions (frozen dataclasses), ``catalog`` Sentio's dashboards and
``rules`` its rule groups; ``vmui``, ``grafana``, ``vmalert`` and ``alertmanager`` render them;
``provision`` applies them to the native stack and ``grafana_api`` to a user's Grafana.
"""
