"""The backends Sentio runs natively: how each is built, started and health-checked.

Every backend is an Apache-2.0 engine built from its pinned Go module: VictoriaMetrics
(metrics), vmalert twice (PromQL rules on VictoriaMetrics; LogsQL rules on VictoriaLogs),
VictoriaLogs (logs), Jaeger v2 (traces) and Alertmanager (notifications); beside them runs
Sentio's own Loki-compatible read API (`loki-api`, ``python -m sentio.logql``), nothing to build.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sentio import __version__
from sentio.config import StackConfig
from sentio.errors import StackError
from sentio.stack.gobuild import GoProgram
from sentio.stack.versions import Versions, config_dir

VM_MODULE = "github.com/VictoriaMetrics/VictoriaMetrics"
VL_MODULE = "github.com/VictoriaMetrics/VictoriaLogs"
JAEGER_MODULE = "github.com/jaegertracing/jaeger"
AM_MODULE = "github.com/prometheus/alertmanager"
RULE_PATTERNS = ("*.yml", "*.yaml")
# Alertmanager embeds its generated web UI from these folders; the module ships without them.
AM_UI_PLACEHOLDER = (
    "<!doctype html><title>Alertmanager</title><p>This Alertmanager was built without its web "
    "UI; its API is at <a href=api/v2/status>api/v2</a>.</p>\n"
)
DEFAULT_ALERTMANAGER_CONFIG = """\
# Written by `sentio stack up` because none was here; `sentio provision` replaces it.
route:
  receiver: "null"
receivers:
  - name: "null"
"""


@dataclass(frozen=True)
class Backend:
    """One backend: its Go program, its command line and its health endpoint."""

    name: str
    program: GoProgram | None  # None: a Sentio process, run by ``command``
    args: Callable[[StackConfig, Path], list[str]]
    env: Callable[[StackConfig, Path], dict[str, str]]
    health_path: str
    port: Callable[[StackConfig], int]
    ports: Callable[[StackConfig], list[int]]
    stop_grace_s: float = 20.0
    prepare: Callable[[StackConfig], None] | None = None
    stops_first: bool = False  # a client of the other backends: stopped before them
    command: Callable[[StackConfig], list[str]] | None = None  # argv before ``args``

    @property
    def version(self) -> str:
        """Return the pinned version (Sentio's own for a Sentio process)."""
        return self.program.version if self.program is not None else __version__

    def health_url(self, stack: StackConfig) -> str:
        """Return the URL that answers 200 once the backend is ready."""
        return f"http://{stack.host}:{self.port(stack)}{self.health_path}"


@dataclass(frozen=True)
class Tool:
    """A command-line program from a backend's module that Sentio runs (not a server)."""

    name: str
    program: GoProgram


def _no_env(stack: StackConfig, data: Path) -> dict[str, str]:
    return {}


def _vm_args(stack: StackConfig, data: Path) -> list[str]:
    vm = stack.victoriametrics
    return [
        f"-storageDataPath={data}",
        f"-httpListenAddr={stack.host}:{vm.port}",
        f"-retentionPeriod={vm.retention}",
        "-opentelemetry.usePrometheusNaming",
        "-search.latencyOffset=0s",
        "-search.maxSeries=1000000",  # the AI engine lists its series with /api/v1/series
        "-search.disableCache",
        "-inmemoryDataFlushInterval=2s",
        f"-vmui.customDashboardsPath={stack.stack_config_dir() / 'dashboards'}",
        "-loggerLevel=WARN",
        *(
            [f"-dedup.minScrapeInterval={vm.dedup_min_scrape_interval}"]
            if vm.dedup_min_scrape_interval
            else []
        ),
    ]


def _vl_args(stack: StackConfig, data: Path) -> list[str]:
    vl = stack.victorialogs
    return [
        f"-storageDataPath={data}",
        f"-httpListenAddr={stack.host}:{vl.port}",
        f"-retentionPeriod={vl.retention}",
        "-loggerLevel=WARN",
    ]


def _vl_storage_args(index: int) -> Callable[[StackConfig, Path], list[str]]:
    def args(stack: StackConfig, data: Path) -> list[str]:
        vl = stack.victorialogs
        return [
            f"-storageDataPath={data}",
            f"-httpListenAddr={stack.host}:{vl.storage_port(index)}",
            f"-retentionPeriod={vl.retention}",
            "-loggerLevel=WARN",
        ]

    return args


def _vl_front_args(stack: StackConfig, data: Path) -> list[str]:
    vl = stack.victorialogs
    cluster = vl.cluster
    if cluster is None:
        raise StackError("the VictoriaLogs front needs `stack.victorialogs.cluster`")
    nodes = ",".join(f"{stack.host}:{vl.storage_port(i)}" for i in range(cluster.storage_nodes))
    return [
        f"-storageNode={nodes}",
        f"-httpListenAddr={stack.host}:{vl.port}",
        # The front stores nothing; its own internal API stays closed to other fronts.
        "-internalinsert.disable",
        "-internalselect.disable",
        f"-search.allowPartialResponse={str(cluster.allow_partial_response).lower()}",
        "-loggerLevel=WARN",
    ]


def _storage_port(stack: StackConfig, index: int) -> int:
    return stack.victorialogs.storage_port(index)


def _storage_ports(stack: StackConfig, index: int) -> list[int]:
    return [stack.victorialogs.storage_port(index)]


def victorialogs_cluster(stack: StackConfig, selected: Mapping[str, Backend]) -> dict[str, Backend]:
    """Return ``selected`` with `victorialogs` as a cluster when the config asks for one.

    The storage nodes (`victorialogs-storage-<i>`) start first; the insert/select front keeps
    the name `victorialogs` and its port, so whatever sends or queries logs is unchanged.
    """
    cluster = stack.victorialogs.cluster
    single = selected.get("victorialogs")
    if cluster is None or single is None:
        return dict(selected)
    out: dict[str, Backend] = {}
    for name, backend in selected.items():
        if name != "victorialogs":
            out[name] = backend
            continue
        for i in range(cluster.storage_nodes):
            out[f"victorialogs-storage-{i}"] = Backend(
                name=f"victorialogs-storage-{i}",
                program=single.program,
                args=_vl_storage_args(i),
                env=_no_env,
                health_path="/health",
                port=functools.partial(_storage_port, index=i),
                ports=functools.partial(_storage_ports, index=i),
            )
        out["victorialogs"] = Backend(
            name="victorialogs",
            program=single.program,
            args=_vl_front_args,
            env=_no_env,
            health_path="/health",
            port=single.port,
            ports=single.ports,
        )
    return out


def _loki_api_command(stack: StackConfig) -> list[str]:
    return [sys.executable, "-m", "sentio.logql"]


def _loki_api_args(stack: StackConfig, data: Path) -> list[str]:
    return [
        "--host",
        stack.host,
        "--port",
        str(stack.loki_api.port),
        "--victorialogs",
        stack.url("victorialogs"),
    ]


def _rule_args(folder: Path) -> list[str]:
    return [f"-rule={folder / pattern}" for pattern in RULE_PATTERNS]


def _vmalert_common(stack: StackConfig, name: str) -> list[str]:
    vm = stack.url("victoriametrics")
    port = stack.vmalert.logs_port if name == "vmalert-logs" else stack.vmalert.port
    return [
        f"-httpListenAddr={stack.host}:{port}",
        f"-evaluationInterval={stack.vmalert.evaluation_interval}",
        # Rules see a sample as soon as VictoriaMetrics can search it (its latency offset is 0).
        "-rule.evalDelay=0s",
        f"-remoteWrite.url={vm}",
        f"-remoteRead.url={vm}",
        f"-notifier.url={stack.url('alertmanager')}",
        f"-external.url={stack.url(name)}",
        "-loggerLevel=WARN",
    ]


def _vmalert_args(stack: StackConfig, data: Path) -> list[str]:
    return [
        *_rule_args(stack.rules_dir("metrics")),
        f"-datasource.url={stack.url('victoriametrics')}",
        *_vmalert_common(stack, "vmalert"),
    ]


def _vmalert_logs_args(stack: StackConfig, data: Path) -> list[str]:
    return [
        *_rule_args(stack.rules_dir("logs")),
        "-rule.defaultRuleType=vlogs",
        f"-datasource.url={stack.url('victorialogs')}",
        *_vmalert_common(stack, "vmalert-logs"),
    ]


def _make_rule_dirs(stack: StackConfig) -> None:
    stack.rules_dir("metrics").mkdir(parents=True, exist_ok=True)
    stack.rules_dir("logs").mkdir(parents=True, exist_ok=True)


def alertmanager_config_file(stack: StackConfig) -> Path:
    """Return the Alertmanager config file of the stack's config folder."""
    return stack.stack_config_dir() / "alertmanager.yml"


def _write_default_alertmanager_config(stack: StackConfig) -> None:
    path = alertmanager_config_file(stack)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEFAULT_ALERTMANAGER_CONFIG, encoding="utf-8")


def _am_args(stack: StackConfig, data: Path) -> list[str]:
    am = stack.alertmanager
    return [
        f"--config.file={alertmanager_config_file(stack)}",
        f"--storage.path={data}",
        f"--data.retention={am.retention}",
        f"--web.listen-address={stack.host}:{am.port}",
        f"--web.external-url={am.external_url or stack.url('alertmanager')}",
        "--cluster.listen-address=",  # a single instance: no gossip port
        "--log.level=warn",
    ]


def _jaeger_args(stack: StackConfig, data: Path) -> list[str]:
    return [f"--config=file:{config_dir() / 'jaeger.yaml'}"]


def _jaeger_env(stack: StackConfig, data: Path) -> dict[str, str]:
    j = stack.jaeger
    return {
        "SENTIO_HOST": stack.host,
        "SENTIO_JAEGER_DATA": str(data),
        "SENTIO_JAEGER_RETENTION": j.retention,
        "SENTIO_JAEGER_QUERY_PORT": str(j.query_port),
        "SENTIO_JAEGER_QUERY_GRPC_PORT": str(j.query_grpc_port),
        "SENTIO_JAEGER_OTLP_HTTP_PORT": str(j.otlp_http_port),
        "SENTIO_JAEGER_OTLP_GRPC_PORT": str(j.otlp_grpc_port),
        "SENTIO_JAEGER_HEALTH_PORT": str(j.health_port),
        "SENTIO_JAEGER_METRICS_PORT": str(j.metrics_port),
    }


def _jaeger_ports(stack: StackConfig) -> list[int]:
    j = stack.jaeger
    return [
        j.query_port,
        j.query_grpc_port,
        j.otlp_http_port,
        j.otlp_grpc_port,
        j.health_port,
        j.metrics_port,
    ]


def _vm_program(name: str, version: str) -> GoProgram:
    return GoProgram(
        name=name,
        module=VM_MODULE,
        version=version,
        package=f"{VM_MODULE}/app/{name}",
        binary=name,
        wrapper=False,
        ldflags=(f"-X {VM_MODULE}/lib/buildinfo.Version={name}-{version}",),
    )


def _am_program(name: str, versions: Versions) -> GoProgram:
    return GoProgram(
        name=name,
        module=AM_MODULE,
        version=versions["ALERTMANAGER_VERSION"],
        package=f"{AM_MODULE}/cmd/{name}",
        binary=name,
        version_args=("--version",),
        ldflags=(
            "-X github.com/prometheus/common/version.Version="
            f"{versions['ALERTMANAGER_VERSION'].lstrip('v')}",
            "-X github.com/prometheus/common/version.Branch=release",
        ),
        add_files={
            "ui/app/dist/elm/index.html": AM_UI_PLACEHOLDER,
            "ui/app/dist/mantine/index.html": AM_UI_PLACEHOLDER,
        },
    )


def tools(versions: Versions) -> Mapping[str, Tool]:
    """Return the command-line tools Sentio runs: amtool checks Alertmanager configs."""
    return {"amtool": Tool("amtool", _am_program("amtool", versions))}


def backends(versions: Versions) -> Mapping[str, Backend]:
    """Return every backend, keyed by name, at the pinned versions, in start order."""
    vm_version = versions["VICTORIAMETRICS_VERSION"]
    vl_version = versions["VICTORIALOGS_VERSION"]
    vmalert = _vm_program("vmalert", vm_version)
    return {
        "victoriametrics": Backend(
            name="victoriametrics",
            program=_vm_program("victoria-metrics", vm_version),
            args=_vm_args,
            env=_no_env,
            health_path="/health",
            port=lambda s: s.victoriametrics.port,
            ports=lambda s: [s.victoriametrics.port],
            prepare=lambda s: (s.stack_config_dir() / "dashboards").mkdir(
                parents=True, exist_ok=True
            ),
        ),
        "victorialogs": Backend(
            name="victorialogs",
            program=GoProgram(
                name="victoria-logs",
                module=VL_MODULE,
                version=vl_version,
                package=f"{VL_MODULE}/app/victoria-logs",
                binary="victoria-logs",
                wrapper=False,
                ldflags=(f"-X {VM_MODULE}/lib/buildinfo.Version=victoria-logs-{vl_version}",),
            ),
            args=_vl_args,
            env=_no_env,
            health_path="/health",
            port=lambda s: s.victorialogs.port,
            ports=lambda s: [s.victorialogs.port],
        ),
        "jaeger": Backend(
            name="jaeger",
            program=GoProgram(
                name="jaeger",
                module=JAEGER_MODULE,
                version=versions["JAEGER_VERSION"],
                package=f"{JAEGER_MODULE}/cmd/jaeger",
                binary="jaeger",
                version_args=("version",),
                ldflags=(
                    f"-X {JAEGER_MODULE}/internal/version.latestVersion="
                    f"v{versions['JAEGER_V2_VERSION']}",
                ),
            ),
            args=_jaeger_args,
            env=_jaeger_env,
            health_path="/status",
            port=lambda s: s.jaeger.health_port,
            ports=_jaeger_ports,
        ),
        "alertmanager": Backend(
            name="alertmanager",
            program=_am_program("alertmanager", versions),
            args=_am_args,
            env=_no_env,
            health_path="/-/healthy",
            port=lambda s: s.alertmanager.port,
            ports=lambda s: [s.alertmanager.port],
            prepare=_write_default_alertmanager_config,
        ),
        "vmalert": Backend(
            name="vmalert",
            program=vmalert,
            args=_vmalert_args,
            env=_no_env,
            health_path="/health",
            port=lambda s: s.vmalert.port,
            ports=lambda s: [s.vmalert.port],
            prepare=_make_rule_dirs,
            stops_first=True,
        ),
        "vmalert-logs": Backend(
            name="vmalert-logs",
            program=vmalert,
            args=_vmalert_logs_args,
            env=_no_env,
            health_path="/health",
            port=lambda s: s.vmalert.logs_port,
            ports=lambda s: [s.vmalert.logs_port],
            prepare=_make_rule_dirs,
            stops_first=True,
        ),
        "loki-api": Backend(
            name="loki-api",
            program=None,
            command=_loki_api_command,
            args=_loki_api_args,
            env=_no_env,
            health_path="/ready",
            port=lambda s: s.loki_api.port,
            ports=lambda s: [s.loki_api.port],
            stops_first=True,
            stop_grace_s=5.0,
        ),
    }
