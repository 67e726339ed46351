"""Write the generated parts of `deploy/kubernetes/`: image tags, measured sizes, rules, configs.

The manifests themselves are plain kustomize files (a ``base`` and the ``single`` and
``cluster`` overlays), edited by hand; the user's config is the overlay's ``sentio.yaml``,
which kustomize's configMapGenerator turns into the ConfigMap the pods read. This module writes
only what follows from somewhere else, so it cannot drift (a test renders it again and compares):

- ``components/images``: every image's tag from `versions.env`, and Sentio's image name;
- ``components/resources``: each workload's requests and limits from ``MEASURED``;
- ``base/rules`` and ``base/alertmanager``: the rule groups, recording rules, Alertmanager
  config and message templates `sentio provision` writes, rendered from ``sentio.dashboards``;
- each overlay's ``jaeger.yaml``: `config/jaeger.yaml` (on OpenSearch in the cluster overlay).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sentio import __version__
from sentio.config import AlertingConfig, SentioConfig
from sentio.dashboards import alertmanager, rules, vmalert
from sentio.errors import SentioError
from sentio.stack.versions import Versions, config_dir

Manifest = dict[str, Any]
HEADER = (
    "# Written by `sentio deploy kubernetes` (from versions.env, sentio.dashboards and"
    " config/);\n# run it again rather than editing this file (a test compares the two).\n"
)
# Where Alertmanager's pods mount their ConfigMap and the Slack Secret (base/alertmanager.yaml).
ALERTMANAGER_DIR = Path("/etc/alertmanager")
SLACK_WEBHOOK_FILE = ALERTMANAGER_DIR / "secrets" / "slack" / "webhook-url"
# Mean cores and peak RSS (MiB) of each process, measured on this project's 2-core build
# machine (the processes sharing it); requests are these figures, memory limits about twice the
# peak RSS, no CPU limits. Each line says which run it comes from:
#   footprint: `sentio bench footprint --units 16 --window-s 30` (the collector reading 16
#     simulated meters at full speed, 66,000 readings/s, into the native stack);
#   ai: `sentio bench ai --series 10000` at the engine's default config (7-day fit window,
#     auto models, group_by device, forecasts on): an infer cycle 5.73 s a minute, a fit
#     267 s an hour, peak RSS 209 MiB (a page of series held, never the query);
#   scaleout: `sentio bench scaleout` (single-node VictoriaLogs taking 1.1 million records/s);
#   logql: `sentio bench logql` at its defaults (1,000,000 records; 16 queries, each 7 times,
#     one at a time: 3.47 ms of the API's CPU per 165 ms query; a 100,000-line answer streamed).
# OpenSearch was not run here: its figures (in overlays/cluster/traces.yaml) follow from its heap.
MEASURED: dict[str, tuple[float, float]] = {
    "collector": (0.65, 100.0),  # footprint
    "ai-engine": (0.09, 213.2),  # ai: 3.89 / 60 + 105.4 / 3600 cores, bursts of one core
    "victoriametrics": (0.17, 122.0),  # footprint
    "victorialogs": (1.83, 275.0),  # scaleout
    "jaeger": (0.07, 537.0),  # footprint, Badger's caches included
    "alertmanager": (0.01, 36.0),  # footprint, idle: under 0.01 cores
    "vmalert": (0.01, 15.0),  # footprint, no rules loaded: under 0.01 cores
    "loki-api": (0.02, 49.0),  # logql: 0.02 cores serving queries; 49 MiB peak while streaming
}
# (kind, workload) -> (MEASURED key, share): a front or stateless replica gets half a node's.
SIZES: dict[tuple[str, str], tuple[str, float]] = {
    ("StatefulSet", "sentio-collector"): ("collector", 1.0),
    ("StatefulSet", "sentio-ai"): ("ai-engine", 1.0),
    ("Deployment", "loki-api"): ("loki-api", 1.0),
    ("Deployment", "vmalert"): ("vmalert", 1.0),
    ("Deployment", "vmalert-logs"): ("vmalert", 1.0),
    ("StatefulSet", "alertmanager"): ("alertmanager", 1.0),
    ("StatefulSet", "victoriametrics"): ("victoriametrics", 1.0),
    ("StatefulSet", "victorialogs"): ("victorialogs", 1.0),
    ("StatefulSet", "jaeger"): ("jaeger", 1.0),
    ("Deployment", "jaeger"): ("jaeger", 0.5),
    ("StatefulSet", "vmstorage"): ("victoriametrics", 1.0),
    ("Deployment", "vminsert"): ("victoriametrics", 0.5),
    ("Deployment", "vmselect"): ("victoriametrics", 0.5),
    ("StatefulSet", "victorialogs-storage"): ("victorialogs", 1.0),
    ("Deployment", "victorialogs"): ("victorialogs", 0.5),
}
OVERLAYS = ("single", "cluster")


class DeployError(SentioError):
    """Raise when the manifests cannot be generated or differ from the generator's output."""


def images(versions: Versions) -> dict[str, str]:
    """Return each image the manifests run and its tag, from the pinned versions."""
    vm, vl = versions["VICTORIAMETRICS_VERSION"], versions["VICTORIALOGS_VERSION"]
    return {
        "victoriametrics/victoria-metrics": vm,
        "victoriametrics/vminsert": f"{vm}-cluster",
        "victoriametrics/vmselect": f"{vm}-cluster",
        "victoriametrics/vmstorage": f"{vm}-cluster",
        "victoriametrics/vmalert": vm,
        "victoriametrics/victoria-logs": vl,
        "jaegertracing/jaeger": versions["JAEGER_V2_VERSION"],
        "prom/alertmanager": versions["ALERTMANAGER_VERSION"],
        "opensearchproject/opensearch": versions["OPENSEARCH_VERSION"],
        sentio_image(versions): __version__,
    }


def sentio_image(versions: Versions) -> str:
    """Return Sentio's image name (`SENTIO_IMAGE` in versions.env), without its tag."""
    return versions.get("SENTIO_IMAGE", "sentio")


class _Dumper(yaml.SafeDumper):
    """Write multi-line strings (the patches) as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _text)


def _dump(*docs: Manifest) -> str:
    body = "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, width=100) for d in docs)
    return HEADER + body


def resources(key: str, share: float = 1.0) -> Manifest:
    """Return a container's requests and limits from its measured figures."""
    cores, rss = MEASURED[key]
    cpu_m = max(10, round(cores * share * 1000 / 10) * 10)
    mem_mi = max(32, round(rss * share / 16) * 16)
    return {
        "requests": {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"},
        "limits": {"memory": f"{max(64, round(rss * share * 2 / 64) * 64)}Mi"},
    }


def _component(body: Manifest) -> str:
    return _dump({"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **body})


def _images_component(versions: Versions) -> str:
    entries: list[Manifest] = [{"name": n, "newTag": t} for n, t in images(versions).items()]
    # the manifests name Sentio's image `sentio`; this is where it gets its real name
    entries[-1] = {"name": "sentio", "newName": sentio_image(versions), "newTag": __version__}
    return _component({"images": entries})


def _resources_component() -> str:
    patches = []
    for (kind, name), (key, share) in SIZES.items():
        op = {"op": "add", "path": "/spec/template/spec/containers/0/resources",
              "value": resources(key, share)}  # fmt: skip
        patches.append(
            {"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump([op], sort_keys=False)}
        )
    return _component({"patches": patches})


def cluster_config(alerting: AlertingConfig | None = None) -> SentioConfig:
    """Return the config the rules and Alertmanager's config are rendered from, in a cluster."""
    alerting = alerting or AlertingConfig()
    slack = alerting.slack.model_copy(update={"webhook_url_file": SLACK_WEBHOOK_FILE})
    return SentioConfig.model_validate(
        {
            # vmalert's links to VictoriaMetrics' UI name the in-cluster Service
            "stack": {"host": "victoriametrics", "config_dir": str(ALERTMANAGER_DIR)},
            "alerting": alerting.model_copy(update={"slack": slack}).model_dump(mode="json"),
        }
    )


def _rules(alerting: AlertingConfig | None) -> dict[str, str]:
    config = cluster_config(alerting)
    groups = rules.rule_groups(config.alerting)
    by_language = {
        kind: [g for g in groups if g.language == language]
        for kind, language in (("metrics", "promql"), ("logs", "logsql"))
    }
    text, _secrets = alertmanager.render(config, check_files=False)
    text = text.partition("\n")[2]  # provision's header names sentio.yaml; HEADER says more
    return {
        **{
            f"base/rules/{kind}.yml": HEADER + vmalert.render_file(config, found)
            for kind, found in by_language.items()
        },
        "base/alertmanager/alertmanager.yml": HEADER + text,
        "base/alertmanager/sentio.tmpl": alertmanager.TEMPLATES,
    }


def jaeger_opensearch_config(badger_config: str) -> str:
    """Return Jaeger's config with OpenSearch in place of Badger (the rest unchanged)."""
    config = yaml.safe_load(badger_config)
    config["extensions"]["jaeger_storage"]["backends"] = {
        "opensearch_store": {
            "opensearch": {
                "server_urls": ["http://opensearch:9200"],
                "indices": {
                    "index_prefix": "sentio",
                    "spans": {"shards": 3, "replicas": 1},
                    "services": {"shards": 1, "replicas": 1},
                },
            }
        }
    }
    config["extensions"]["jaeger_query"]["storage"]["traces"] = "opensearch_store"
    config["exporters"]["jaeger_storage_exporter"]["trace_storage"] = "opensearch_store"
    return (
        "# Jaeger v2 in the cluster overlay: stateless replicas, spans in OpenSearch.\n"
        + yaml.safe_dump(config, sort_keys=False, width=100)
    )


def render(versions: Versions, alerting: AlertingConfig | None = None) -> dict[str, str]:
    """Return every generated file of `deploy/kubernetes/`, keyed by its path inside it.

    ``alerting`` is the `alerting:` section the rules are rendered from (defaults when None).
    """
    try:
        jaeger_config = (config_dir() / "jaeger.yaml").read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"cannot read Jaeger's config: {exc}") from exc
    return {
        "components/images/kustomization.yaml": _images_component(versions),
        "components/resources/kustomization.yaml": _resources_component(),
        **_rules(alerting),
        "overlays/single/jaeger.yaml": HEADER + jaeger_config,
        "overlays/cluster/jaeger.yaml": HEADER + jaeger_opensearch_config(jaeger_config),
    }


def write(out: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` under ``out``; return the paths written."""
    written = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def differences(out: Path, files: Mapping[str, str]) -> list[str]:
    """Return the generated files under ``out`` that are missing or not the generator's."""
    problems = []
    for relative, text in files.items():
        path = out / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: differs from the generator's output")
    return problems
