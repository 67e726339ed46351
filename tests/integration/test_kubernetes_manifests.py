"""The Kubernetes manifests: the generator's output, rendered by kustomize, valid offline."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sentio.collectors.registry import build
from sentio.dashboards import rules
from typer.testing import CliRunner

import sentio
from sentio.cli import app
from sentio.config import AlertingConfig, SentioConfig, parse
from sentio.deploy.kubernetes import differences, images, render
from sentio.deploy.tools import ensure_kustomize
from sentio.stack.backends import alertmanager_config_file, backends, tools
from sentio.stack.install import install, install_one
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import stack_config

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "deploy" / "kubernetes"
LAYOUTS = {"single": (1, 1, 1), "cluster": (3, 2, 2)}  # collectors, replication, AI workers
KUBERNETES_VERSION = "1.33.0"  # the pod-index label the shards read needs 1.28 or newer
SECRETS = {"sentio-slack", "sentio-homeassistant"}  # created by the operator, never in the repo
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def validator() -> Path:
    """Install kubernetes-validate and kustomize (cached, once); return the validator."""
    subprocess.run(["bash", str(REPO / "scripts" / "install-deploy-tools")], check=True, cwd=REPO)
    venv = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-deploy-tools"), "--print-dir"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return Path(venv) / "bin" / "kubernetes-validate"


@pytest.fixture(scope="module")
def rendered(validator: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render each overlay with the pinned kustomize; return the output file of each."""
    kustomize = ensure_kustomize(lambda _m: None)
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for overlay in ("single", "cluster"):
        proc = subprocess.run(
            [str(kustomize), "build", str(ROOT / "overlays" / overlay)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(proc.stdout)
    return files


def docs(path: Path) -> list[Doc]:
    """Return the rendered documents of one overlay."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def pod_specs(documents: list[Doc]) -> Iterator[tuple[str, Doc]]:
    """Yield (workload name, pod spec) of every Deployment and StatefulSet."""
    for doc in documents:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def by_name(documents: list[Doc], kind: str, name: str) -> Doc:
    """Return the one document of ``kind`` named ``name``."""
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def config_map_named(documents: list[Doc], name: str) -> Doc:
    """Return the ConfigMap kustomize generated as ``name`` (with its hash suffix)."""
    (found,) = [
        d for d in documents
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].rpartition("-")[0] == name
    ]  # fmt: skip
    return found


def test_the_committed_files_are_the_generators_output() -> None:
    assert differences(ROOT, render(load_versions())) == []


def test_a_stale_or_missing_generated_file_is_reported(tmp_path: Path) -> None:
    files = render(load_versions())
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "base" / "rules" / "metrics.yml").write_text("# edited by hand\n")
    (tmp_path / "components" / "resources" / "kustomization.yaml").unlink()
    assert differences(tmp_path, files) == [
        "components/resources/kustomization.yaml: missing",
        "base/rules/metrics.yml: differs from the generator's output",
    ]


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_each_overlay_validates_against_the_kubernetes_schemas(
    overlay: str, rendered: dict[str, Path], validator: Path
) -> None:
    proc = subprocess.run(
        [str(validator), "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(rendered[overlay])],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout


def test_the_validator_rejects_a_broken_manifest(
    rendered: dict[str, Path], validator: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered["single"].read_text().replace("replicas: 2", "replicas: two", 1))
    proc = subprocess.run(
        [str(validator), "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(broken)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "'two' is not of type 'integer'" in proc.stdout


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_every_image_tag_comes_from_versions_env(overlay: str, rendered: dict[str, Path]) -> None:
    pinned = load_versions()
    expected = images(pinned)
    assert expected["victoriametrics/vmstorage"] == f"{pinned['VICTORIAMETRICS_VERSION']}-cluster"
    assert expected["jaegertracing/jaeger"] == pinned["JAEGER_V2_VERSION"]
    seen = set()
    for name, spec in pod_specs(docs(rendered[overlay])):
        for container in spec["containers"] + spec.get("initContainers", []):
            image, _, tag = container["image"].rpartition(":")
            assert image in expected, f"{name}: image {container['image']} is not pinned"
            assert tag == expected[image], f"{name}: {container['image']}"
            seen.add(image)
    must = {
        "single": {"victoriametrics/victoria-metrics", "victoriametrics/victoria-logs"},
        "cluster": {"victoriametrics/vminsert", "victoriametrics/vmselect",
                    "victoriametrics/vmstorage", "opensearchproject/opensearch"},
    }[overlay]  # fmt: skip
    assert must | {"sentio", "prom/alertmanager", "victoriametrics/vmalert"} <= seen


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_references_resolve_and_secrets_are_only_named(
    overlay: str, rendered: dict[str, Path]
) -> None:
    documents = docs(rendered[overlay])
    assert not [d for d in documents if d["kind"] == "Secret"], "a Secret's value is in the repo"
    maps = {d["metadata"]["name"] for d in documents if d["kind"] == "ConfigMap"}
    secrets: set[str] = set()
    for name, spec in pod_specs(documents):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps, (name, volume)
            if "secret" in volume:
                secrets.add(volume["secret"]["secretName"])
        for container in spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["name"] in maps, (name, env)
    assert secrets == SECRETS


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_only_cluster_internal_services_probes_and_resources(
    overlay: str, rendered: dict[str, Path]
) -> None:
    documents = docs(rendered[overlay])
    for doc in documents:
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP", doc["metadata"]["name"]
        assert doc["kind"] not in {"Ingress", "Route"}
    for name, spec in pod_specs(documents):
        assert not spec.get("hostNetwork")
        for container in spec["containers"]:
            assert "cpu" in container["resources"]["requests"], name
            assert "memory" in container["resources"]["limits"], name
            assert not any("hostPort" in p for p in container.get("ports", [])), name
            if container.get("ports"):
                assert container["readinessProbe"]["httpGet"]["path"], name
                assert container["livenessProbe"]["httpGet"]["path"], name


def test_alertmanager_runs_two_replicas_that_gossip(rendered: dict[str, Path]) -> None:
    alertmanager = by_name(docs(rendered["cluster"]), "StatefulSet", "alertmanager")
    assert alertmanager["spec"]["replicas"] == 2
    args = alertmanager["spec"]["template"]["spec"]["containers"][0]["args"]
    peers = [a for a in args if a.startswith("--cluster.peer=")]
    assert peers == [
        f"--cluster.peer=alertmanager-{i}.alertmanager-headless:9094" for i in range(2)
    ]


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_shards_match_replicas_and_the_config_is_valid(
    overlay: str, rendered: dict[str, Path]
) -> None:
    collectors, replication, ai_workers = LAYOUTS[overlay]
    documents = docs(rendered[overlay])
    (config_map,) = [d for d in documents if d["metadata"]["name"].startswith("sentio-config")]
    secret = "${file:/etc/sentio-secrets/homeassistant/token}"
    assert secret in config_map["data"]["sentio.yaml"]
    config: SentioConfig = parse(config_map["data"]["sentio.yaml"].replace(secret, "t"))
    for index, instance in enumerate(config.connectors):
        build(instance, f"connectors[{index}]")  # each connector's own settings validate
    collector = by_name(documents, "StatefulSet", "sentio-collector")
    assert config.collector.shard is not None
    assert config.collector.shard.count == collector["spec"]["replicas"] == collectors
    assert config.collector.shard.replication == replication
    ai = by_name(documents, "StatefulSet", "sentio-ai")
    args = ai["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--shard") + 1] == f"$(SENTIO_SHARD_MEMBER)/{ai['spec']['replicas']}"
    assert ai["spec"]["replicas"] == ai_workers
    if replication > 1:
        for workload in ("vmselect", "vmstorage"):
            kind = "StatefulSet" if workload == "vmstorage" else "Deployment"
            spec = by_name(documents, kind, workload)["spec"]["template"]["spec"]
            assert "-dedup.minScrapeInterval=10s" in spec["containers"][0]["args"]


def test_sentio_deploy_kubernetes_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    stale = runner.invoke(app, ["deploy", "kubernetes", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 1 and "components/images/kustomization.yaml: missing" in stale.output
    assert runner.invoke(app, ["deploy", "kubernetes", "--out", str(tmp_path)]).exit_code == 0
    fresh = runner.invoke(app, ["deploy", "kubernetes", "--out", str(tmp_path), "--check"])
    assert fresh.exit_code == 0, fresh.output
    assert differences(tmp_path, render(load_versions())) == []


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_jaegers_config_is_accepted_by_the_pinned_jaeger(
    overlay: str, rendered: dict[str, Path], tmp_path: Path
) -> None:
    documents = docs(rendered[overlay])
    (config_map,) = [d for d in documents if d["metadata"]["name"].startswith("jaeger-config")]
    config = tmp_path / "jaeger.yaml"
    config.write_text(config_map["data"]["jaeger.yaml"])
    jaeger = backends(load_versions())["jaeger"]
    (installed,) = install([jaeger], None, lambda _m: None)
    kind = "StatefulSet" if overlay == "single" else "Deployment"
    container = by_name(documents, kind, "jaeger")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    proc = subprocess.run(
        [str(installed.path), "validate", f"--config=file:{config}"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    storage = yaml.safe_load(config.read_text())["extensions"]["jaeger_storage"]["backends"]
    assert {"single": "badger", "cluster": "opensearch"}[overlay] in next(iter(storage.values()))


async def test_alertmanagers_config_loads_in_the_pinned_alertmanager(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    config_map = config_map_named(docs(rendered["cluster"]), "alertmanager-config")
    webhook = tmp_path / "webhook-url"
    webhook.write_text("http://127.0.0.1:9/services/T0/B0/x")
    text = config_map["data"]["alertmanager.yml"]
    assert "/etc/alertmanager/secrets/slack/webhook-url" in text
    templates = tmp_path / "sentio.tmpl"
    templates.write_text(config_map["data"]["sentio.tmpl"])
    text = text.replace("/etc/alertmanager/alertmanager-templates/sentio.tmpl", str(templates))
    data = stack_config(tmp_path / "data").model_dump(mode="json")
    data["stack"]["config_dir"] = str(tmp_path / "config")
    config = SentioConfig.model_validate(data)
    path = alertmanager_config_file(config.stack)
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("/etc/alertmanager/secrets/slack/webhook-url", str(webhook)))
    stack = Stack(config.stack, {"alertmanager": backends(load_versions())["alertmanager"]})
    try:
        await stack.up(lambda _m: None)  # Alertmanager exits at start on a config it refuses
        async with aiohttp.ClientSession() as session:
            url = f"{config.stack.url('alertmanager')}/api/v2/status"
            async with session.get(url) as resp:
                status = await resp.json()
        assert "api_url_file" in status["config"]["original"]
    finally:
        await stack.down(progress=lambda _m: None)


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_the_rule_config_maps_hold_every_group_provision_writes(
    overlay: str, rendered: dict[str, Path], tmp_path: Path
) -> None:
    documents = docs(rendered[overlay])
    expected = rules.rule_groups(AlertingConfig())
    vmalert = install_one(backends(load_versions())["vmalert"], None, lambda _m: None).path
    for kind, language in (("metrics", "promql"), ("logs", "logsql")):
        text = config_map_named(documents, f"sentio-rules-{kind}")["data"][f"{kind}.yml"]
        groups = yaml.safe_load(text)["groups"]
        names = [g["name"] for g in groups]
        assert names == [g.name for g in expected if g.language == language]
        rule_names = {r.get("alert") or r.get("record") for g in groups for r in g["rules"]}
        want = {r.name if hasattr(r, "name") else r.record for g in expected
                if g.language == language for r in g.rules}  # fmt: skip
        assert rule_names == want
        path = tmp_path / f"{kind}.yml"
        path.write_text(text)
        proc = subprocess.run(
            [str(vmalert), "-dryRun", f"-rule={path}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    hourly = config_map_named(documents, "sentio-rules-metrics")["data"]["metrics.yml"]
    assert "record: " in hourly  # the recording rules the hourly panels read


def test_vmalert_dry_run_rejects_a_broken_rule(rendered: dict[str, Path], tmp_path: Path) -> None:
    text = config_map_named(docs(rendered["single"]), "sentio-rules-metrics")["data"]["metrics.yml"]
    path = tmp_path / "broken.yml"
    path.write_text(text.replace("expr: ", "expr: sum(( ", 1))
    vmalert = install_one(backends(load_versions())["vmalert"], None, lambda _m: None).path
    proc = subprocess.run(
        [str(vmalert), "-dryRun", f"-rule={path}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0


def test_amtool_accepts_the_alertmanager_config(rendered: dict[str, Path], tmp_path: Path) -> None:
    config_map = config_map_named(docs(rendered["cluster"]), "alertmanager-config")
    templates = tmp_path / "sentio.tmpl"
    templates.write_text(config_map["data"]["sentio.tmpl"])
    webhook = tmp_path / "webhook-url"
    webhook.write_text("https://hooks.slack.invalid/services/T0/B0/x")
    text = config_map["data"]["alertmanager.yml"]
    assert "inhibit_rules" in text and '{{ template "sentio.text" . }}' in text
    text = text.replace("/etc/alertmanager/alertmanager-templates/sentio.tmpl", str(templates))
    config = tmp_path / "alertmanager.yml"
    config.write_text(text.replace("/etc/alertmanager/secrets/slack/webhook-url", str(webhook)))
    amtool = install_one(tools(load_versions())["amtool"], None, lambda _m: None).path
    proc = subprocess.run(
        [str(amtool), "check-config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 templates" in proc.stdout or "sentio.tmpl" in proc.stdout, proc.stdout


def test_rules_follow_the_alerting_section_of_a_given_config(tmp_path: Path) -> None:
    config = tmp_path / "sentio.yaml"
    config.write_text("alerting:\n  anomaly_for: 7m\n  slack: {channel: '#plant-7'}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["deploy", "kubernetes", "--out", str(out), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "for: 7m" in (out / "base" / "rules" / "metrics.yml").read_text()
    assert "channel: '#plant-7'" in (out / "base" / "alertmanager" / "alertmanager.yml").read_text()


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_only_pods_of_the_namespace_reach_the_backends(
    overlay: str, rendered: dict[str, Path]
) -> None:
    (policy,) = [d for d in docs(rendered[overlay]) if d["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == "sentio"
    assert policy["spec"]["podSelector"] == {}  # every pod of the namespace
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_a_user_changes_the_config_by_editing_only_sentio_yaml(tmp_path: Path) -> None:
    kustomize = ensure_kustomize(lambda _m: None)
    copy = tmp_path / "kubernetes"
    subprocess.run(["cp", "-r", str(ROOT), str(copy)], check=True)
    mine = copy / "overlays" / "single" / "sentio.yaml"
    mine.write_text(mine.read_text().replace("modbus-gateway.plant.example", "10.1.2.3"))
    proc = subprocess.run(
        [str(kustomize), "build", str(copy / "overlays" / "single")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    documents = [d for d in yaml.safe_load_all(proc.stdout) if d]
    config_map = config_map_named(documents, "sentio-config")
    assert "host: 10.1.2.3" in config_map["data"]["sentio.yaml"]
    collector = by_name(documents, "StatefulSet", "sentio-collector")
    volumes = collector["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}} in volumes


def test_the_image_name_is_set_once_and_make_image_builds_it(rendered: dict[str, Path]) -> None:
    pinned = load_versions()
    name, version = pinned["SENTIO_IMAGE"], sentio.__version__
    dry = subprocess.run(
        ["make", "-n", "image-push"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert f"docker build -f docker/sentio.Dockerfile -t {name}:{version} ." in dry
    assert f"docker push {name}:{version}" in dry
    for overlay in ("single", "cluster"):
        used = {
            c["image"]
            for _, spec in pod_specs(docs(rendered[overlay]))
            for c in spec["containers"]
            if c["name"] in {"collector", "ai-engine"}
        }
        assert used == {f"{name}:{version}"}
