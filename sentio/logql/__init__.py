"""LogQL over VictoriaLogs: the parser, the LogsQL translator and the Loki read API."""
