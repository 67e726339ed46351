"""Connector plugins: the contract (``sentio.connectors.contract``) and the built-in connectors."""
