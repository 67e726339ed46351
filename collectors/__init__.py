"""The collector: runs connectors, exports every reading, keeps device health."""
