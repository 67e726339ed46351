"""The backends Sentio runs natively: how each is built, started and health-checked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sentio.config import StackConfig
from sentio.stack.gobuild import GoProgram
from sentio.stack.versions import Versions, config_dir


@dataclass(frozen=True)
class Backend:
    """One backend: its Go program, its command line and its health endpoint."""

    name: str
    program: GoProgram
    args: Callable[[StackConfig, Path], list[str]]
    env: Callable[[StackConfig, Path], dict[str, str]]
    health_path: str
    port: Callable[[StackConfig], int]
    ports: Callable[[StackConfig], list[int]]
    stop_grace_s: float = 20.0

    def health_url(self, stack: StackConfig) -> str:
        """Return the URL that answers 200 once the backend is ready."""
        return f"http://{stack.host}:{self.port(stack)}{self.health_path}"


def _vm_args(stack: StackConfig, data: Path) -> list[str]:
    vm = stack.victoriametrics
    return [
        f"-storageDataPath={data}",
        f"-httpListenAddr={stack.host}:{vm.port}",
        f"-retentionPeriod={vm.retention}",
        "-opentelemetry.usePrometheusNaming",
        "-search.latencyOffset=0s",
        "-search.disableCache",
        "-inmemoryDataFlushInterval=2s",
        "-loggerLevel=WARN",
    ]


def _loki_env(stack: StackConfig, data: Path) -> dict[str, str]:
    return {
        "SENTIO_HOST": stack.host,
        "SENTIO_LOKI_DATA": str(data),
        "SENTIO_LOKI_HTTP_PORT": str(stack.loki.http_port),
        "SENTIO_LOKI_GRPC_PORT": str(stack.loki.grpc_port),
    }


def _tempo_env(stack: StackConfig, data: Path) -> dict[str, str]:
    tempo = stack.tempo
    return {
        "SENTIO_HOST": stack.host,
        "SENTIO_TEMPO_DATA": str(data),
        "SENTIO_TEMPO_HTTP_PORT": str(tempo.http_port),
        "SENTIO_TEMPO_GRPC_PORT": str(tempo.grpc_port),
        "SENTIO_TEMPO_OTLP_HTTP_PORT": str(tempo.otlp_http_port),
        "SENTIO_TEMPO_OTLP_GRPC_PORT": str(tempo.otlp_grpc_port),
    }


def _no_env(stack: StackConfig, data: Path) -> dict[str, str]:
    return {}


def _config_args(name: str) -> Callable[[StackConfig, Path], list[str]]:
    def args(stack: StackConfig, data: Path) -> list[str]:
        return [f"-config.file={config_dir() / f'{name}.yaml'}", "-config.expand-env=true"]

    return args


def backends(versions: Versions) -> Mapping[str, Backend]:
    """Return every backend, keyed by name, at the pinned versions."""
    vm_version = versions["VICTORIAMETRICS_VERSION"]
    loki_version = versions["LOKI_VERSION"]
    tempo_version = versions["TEMPO_VERSION"]
    loki_build = "github.com/grafana/loki/v3/pkg/util/build"
    return {
        "victoriametrics": Backend(
            name="victoriametrics",
            program=GoProgram(
                name="victoriametrics",
                module="github.com/VictoriaMetrics/VictoriaMetrics",
                version=vm_version,
                package="github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics",
                binary="victoria-metrics",
                wrapper=False,
                ldflags=(
                    "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version="
                    f"victoria-metrics-{vm_version}",
                ),
            ),
            args=_vm_args,
            env=_no_env,
            health_path="/health",
            port=lambda s: s.victoriametrics.port,
            ports=lambda s: [s.victoriametrics.port],
        ),
        "loki": Backend(
            name="loki",
            program=GoProgram(
                name="loki",
                module="github.com/grafana/loki/v3",
                version=loki_version,
                package="github.com/grafana/loki/v3/cmd/loki",
                binary="loki",
                ldflags=(
                    f"-X {loki_build}.Version={loki_version.lstrip('v')}",
                    f"-X {loki_build}.Branch=release",
                ),
            ),
            args=_config_args("loki"),
            env=_loki_env,
            health_path="/ready",
            port=lambda s: s.loki.http_port,
            ports=lambda s: [s.loki.http_port, s.loki.grpc_port],
        ),
        "tempo": Backend(
            name="tempo",
            program=GoProgram(
                name="tempo",
                module="github.com/grafana/tempo",
                version=tempo_version,
                package="github.com/grafana/tempo/cmd/tempo",
                binary="tempo",
                ldflags=(f"-X main.Version={tempo_version}",),
                # The checksum database does not know this pseudo-version; upstream's go.sum
                # still pins every dependency.
                extra_env={"GONOSUMDB": "github.com/grafana/tempo"},
            ),
            args=_config_args("tempo"),
            env=_tempo_env,
            health_path="/ready",
            port=lambda s: s.tempo.http_port,
            ports=lambda s: [
                s.tempo.http_port,
                s.tempo.grpc_port,
                s.tempo.otlp_http_port,
                s.tempo.otlp_grpc_port,
            ],
            # After traces were queried, Tempo's query-frontend queue can wait forever at
            # shutdown for a querier that already stopped; its ingester has stopped (and
            # written its WAL) by then, so a short grace before SIGKILL loses nothing.
            stop_grace_s=5.0,
        ),
    }
