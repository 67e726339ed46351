# Sentio itself (the `sentio` CLI), installed from its wheel; in compose it prepares the stack's
# config folder and runs the demo workload against the services.
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md versions.env ./
COPY sentio sentio
COPY connectors connectors
COPY collectors collectors
COPY simulators simulators
COPY ai-engine ai-engine
COPY dashboards dashboards
COPY config config
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim-bookworm
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/sentio_iot-*.whl)[all]" && rm -rf /wheels \
    && useradd --create-home sentio
USER sentio
ENTRYPOINT ["sentio"]
