# Builds one Go backend exactly as `sentio stack install` does natively: same pinned version from
# versions.env, same wrapper module, so the compose stack and the native stack run the same code.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md versions.env ./
COPY sentio sentio
COPY connectors connectors
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir .
ARG BACKEND
ENV SENTIO_CACHE_DIR=/cache SENTIO_VERSIONS_FILE=/src/versions.env
RUN /venv/bin/sentio stack install --only "${BACKEND}" \
    && cp /cache/bin/"${BACKEND}"/*/* /usr/local/bin/backend

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/backend /usr/local/bin/backend
ENTRYPOINT ["/usr/local/bin/backend"]
