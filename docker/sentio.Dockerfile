# Sentio itself (the `sentio` CLI); in compose it runs the demo workload against the services.
FROM python:3.11-slim-bookworm
WORKDIR /src
COPY pyproject.toml README.md versions.env ./
COPY sentio sentio
COPY connectors connectors
COPY config config
RUN pip install --no-cache-dir '.[all]' && useradd --create-home sentio
ENV SENTIO_VERSIONS_FILE=/src/versions.env SENTIO_BACKEND_CONFIG_DIR=/src/config
USER sentio
ENTRYPOINT ["sentio"]
