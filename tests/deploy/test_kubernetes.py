"""Kubernetes manifests: parsed with pyyaml, the socket wiring checked end to end, haproxy.cfg checked by HAProxy.

The chain that must hold: HAProxy's `stats socket` path lies in the emptyDir as HAProxy's container
mounts it; the exporter's --haproxy.address names the same file as the exporter's container mounts
it; the exporter can open it (group); the Service and the ServiceMonitor reach the metrics port.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import haproxy_binary, require

from exporter import __version__
from exporter.cli import FLAGS, build_parser
from exporter.config import build_config, parse_listen_address

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one object per kind expected"
    return by_kind


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] if c["name"] == name)


def mount_path(c: dict[str, Any], volume: str) -> str:
    return next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == volume)


def haproxy_cfg(objects: dict[str, dict[str, Any]]) -> str:
    return objects["ConfigMap"]["data"]["haproxy.cfg"]


def socket_line(cfg: str) -> list[str]:
    lines = [line.split() for line in cfg.splitlines() if line.strip().startswith("stats socket")]
    assert len(lines) == 1, "exactly one stats socket expected"
    return lines[0]


def exporter_args(pod: dict[str, Any]) -> dict[str, Any]:
    parsed = build_parser().parse_args(container(pod, "exporter")["args"])
    return {key: getattr(parsed, key) for key in FLAGS.values() if getattr(parsed, key) is not None}


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_all_four_objects_are_there(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {"ConfigMap", "Deployment", "Service", "ServiceMonitor"}


def test_socket_is_shared_through_an_emptydir(objects: dict[str, dict[str, Any]]) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    socket_path = socket_line(haproxy_cfg(objects))[2]
    haproxy = container(pod, "haproxy")
    volume = next(m["name"] for m in haproxy["volumeMounts"]
                  if posixpath.dirname(socket_path) == m["mountPath"].rstrip("/"))
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == volume)
    relative = posixpath.relpath(socket_path, mount_path(haproxy, volume))
    address = exporter_args(pod)["haproxy.address"]
    expected = posixpath.join(mount_path(container(pod, "exporter"), volume), relative)
    assert address in (expected, f"unix@{expected}")


def test_exporter_can_open_the_socket(objects: dict[str, dict[str, Any]]) -> None:
    """The socket is created by HAProxy's uid with the pod's fsGroup; mode 660 lets the group in."""
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    words = socket_line(haproxy_cfg(objects))
    mode = words[words.index("mode") + 1]
    assert mode in ("660", "0660")
    haproxy_ctx = container(pod, "haproxy")["securityContext"]
    exporter_ctx = container(pod, "exporter")["securityContext"]
    groups = {pod["securityContext"].get("fsGroup"), *pod["securityContext"].get("supplementalGroups", [])}
    assert haproxy_ctx["runAsGroup"] in groups, "socket group must be one the exporter holds"
    assert exporter_ctx["runAsUser"] != haproxy_ctx["runAsUser"], "the exporter must not be HAProxy's user"
    assert exporter_ctx["runAsNonRoot"] is True and exporter_ctx["runAsUser"] != 0


def test_haproxy_config_is_mounted_where_the_image_reads_it(objects: dict[str, dict[str, Any]]) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    volume = next(v["name"] for v in pod["volumes"] if v.get("configMap", {}).get("name")
                  == objects["ConfigMap"]["metadata"]["name"])
    assert mount_path(container(pod, "haproxy"), volume) == "/usr/local/etc/haproxy"  # official image
    assert "haproxy.cfg" in objects["ConfigMap"]["data"]


def test_exporter_flags_form_a_valid_config(objects: dict[str, dict[str, Any]]) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    args = exporter_args(pod)
    config = build_config(None, args)
    _, port = parse_listen_address(config.web.listen_address[0])
    ports = {p["name"]: p["containerPort"] for p in container(pod, "exporter")["ports"]}
    assert ports["metrics"] == port
    # Alive while the poll loop runs; ready once every target has completed a poll (routes.py).
    assert container(pod, "exporter")["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container(pod, "exporter")["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "metrics"}


def test_service_and_servicemonitor_reach_the_metrics_port(objects: dict[str, dict[str, Any]]) -> None:
    deployment, service, monitor = objects["Deployment"], objects["Service"], objects["ServiceMonitor"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == build_config(None, {}).web.telemetry_path
    assert re.search(r"haproxy", service["metadata"]["name"]), "alerts.yml expects the job (Service name) to contain haproxy"


def test_haproxy_accepts_the_configmap(objects: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """`haproxy -c` on the ConfigMap, socket moved into a temp dir; the cluster DNS name cannot resolve here."""
    binary = require(haproxy_binary(), "haproxy")
    cfg = haproxy_cfg(objects)
    socket_dir = posixpath.dirname(socket_line(cfg)[2])
    (tmp_path / "haproxy.cfg").write_text(cfg.replace(socket_dir, str(tmp_path)))
    result = subprocess.run([binary, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in (result.stdout + result.stderr).splitlines()
                if "WARNING" in line and "could not resolve address" not in line]
    assert warnings == []


def test_the_exporter_runs_the_image_the_dockerfile_builds(objects: dict[str, dict[str, Any]]) -> None:
    """The sidecar's image is the one kustomization.yaml tags with the exporter's version, and it runs
    as the Dockerfile's user: the image's uid, its group, on a read-only root (no .pyc written)."""
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    exporter = container(pod, "exporter")
    [image] = [i for i in yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]
               if i["name"] == exporter["image"]]
    assert image["newTag"] == __version__
    dockerfile = (K8S.parent / "docker" / "Dockerfile").read_text()
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.M)[-1]
    context = exporter["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
    assert context["readOnlyRootFilesystem"] is True and "PYTHONDONTWRITEBYTECODE=1" in dockerfile
