"""deploy/k8s: the kustomize base and the production overlay build, every object validates
against the Kubernetes schemas (offline, kubernetes-validate, strict), and the objects fit
together: probes, ports, selectors, autoscalers, migration Jobs, settings valid for production."""

from __future__ import annotations

import base64
import copy
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import K8S, SERVICES, Svc, make_settings, missing_tool
from pydantic import ValidationError

#: the oldest Kubernetes minor we support, and the newest the schemas know
K8S_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version() + ".0"]
BUILDS = ["base", "overlays/production"]
SVC_IDS = [svc.name for svc in SERVICES]


def _kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@cache
def build(target: str) -> list[dict[str, Any]]:
    command = _kustomize_command()
    if command is None:
        missing_tool(
            "neither kustomize nor kubectl is installed, so `kustomize build` of deploy/k8s "
            "did not run"
        )
    assert command is not None
    result = subprocess.run(
        [*command, str(K8S / target)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize build {target} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def validate(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def raw_manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((path, doc))
    return found


def test_every_manifest_file_validates_even_without_kustomize() -> None:
    manifests = raw_manifests()
    assert len(manifests) >= 3 * 5 + 1
    for path, doc in manifests:
        for version in K8S_VERSIONS:
            try:
                validate(doc, version)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.relative_to(K8S)} {doc['kind']} (k8s {version}): {exc}")


@pytest.mark.parametrize("target", BUILDS)
def test_build_validates_against_the_kubernetes_schemas(target: str) -> None:
    docs = build(target)
    assert {d["kind"] for d in docs} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
        "Secret",
        "Ingress",
    }
    for doc in docs:
        for version in K8S_VERSIONS:
            try:
                validate(doc, version)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{target}: {doc['kind']} {doc['metadata']['name']} ({version}): {exc}")


def test_the_validator_really_validates() -> None:
    deployment = copy.deepcopy(kinds(build("base"), "Deployment")["case-service"])
    validate(deployment, K8S_VERSIONS[0])
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, K8S_VERSIONS[0])
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_type, K8S_VERSIONS[0])


def _env_of(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    maps, secrets = kinds(docs, "ConfigMap"), kinds(docs, "Secret")
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source:
            secret = secrets[source["secretRef"]["name"]]
            env.update(
                {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            )
            env.update(secret.get("stringData") or {})
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "")
    return env


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("target", BUILDS)
@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_each_service_is_complete_and_consistent(
    target: str, svc: Svc, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = build(target)
    port = table.services[svc.name].port
    deployment = kinds(docs, "Deployment")[svc.host]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert _matches(deployment["spec"]["selector"]["matchLabels"], labels)
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns replicas"
    (container,) = pod["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == port
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in (port, container["ports"][0]["name"])

    # non-root, no privileges, requests and limits — for the API and for the migration Job
    job = kinds(docs, "Job")[f"{svc.host}-migrate"]
    job_pod = job["spec"]["template"]
    for spec in (pod["spec"], job_pod["spec"]):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (c["name"], kind)

    (migrate,) = job_pod["spec"]["containers"]
    assert migrate["command"] == ["python", "-m", svc.name, "migrate"]
    assert migrate["image"] == container["image"]
    assert job_pod["spec"]["restartPolicy"] in ("Never", "OnFailure")

    service = kinds(docs, "Service")[svc.host]
    assert _matches(service["spec"]["selector"], labels)
    assert not _matches(service["spec"]["selector"], job_pod["metadata"]["labels"])
    assert service["spec"]["ports"][0]["port"] == port

    hpa = kinds(docs, "HorizontalPodAutoscaler")[svc.host]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": svc.host,
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdb = kinds(docs, "PodDisruptionBudget")[svc.host]
    assert _matches(pdb["spec"]["selector"]["matchLabels"], labels)
    assert not _matches(pdb["spec"]["selector"]["matchLabels"], job_pod["metadata"]["labels"])

    # the settings the pods get are valid for production, and name our Services' ports
    for env in (_env_of(docs, container), _env_of(docs, migrate)):
        settings_env = {k: v for k, v in env.items() if k.startswith(svc.env_prefix)}
        assert settings_env[f"{svc.env_prefix}ENVIRONMENT"] == "production"
        try:
            settings = make_settings(svc, settings_env, monkeypatch)
        except ValidationError as exc:
            pytest.fail(f"{target}: {svc.name} refuses its ConfigMap and Secret:\n{exc}")
        assert settings.port == port
        grid = table.services["grid_service"]
        assert settings.jwks_url == f"http://{grid.host}:{grid.port}/.well-known/jwks.json"
    assert env.get("FORWARDED_ALLOW_IPS") == "*"


@pytest.mark.parametrize("target", BUILDS)
def test_ingress_routes_the_table(target: str, table: Any) -> None:
    docs = build(target)
    services = kinds(docs, "Service")
    routed: dict[str, tuple[str, int]] = {}
    for ingress in kinds(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services, backend
                ports = [p["port"] for p in services[backend["name"]]["spec"]["ports"]]
                assert backend["port"]["number"] in ports
                routed[path["path"]] = (backend["name"], backend["port"]["number"])
    expected = {
        route.prefix.rstrip("/"): (
            table.services[route.service].host,
            table.services[route.service].port,
        )
        for route in table.routes
    }
    assert routed == expected
    for entry in table.internal:
        assert entry.prefix.rstrip("/") not in routed


def test_production_overlay_adds_namespace_host_tls_and_scale() -> None:
    docs = build("overlays/production")
    assert kinds(docs, "Namespace")["gridgov"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "gridgov", doc["metadata"]["name"]
    for ingress in kinds(docs, "Ingress").values():
        host = ingress["spec"]["rules"][0]["host"]
        assert ingress["spec"]["tls"][0]["hosts"] == [host]
    for hpa in kinds(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3
    for deployment in kinds(docs, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert not image.endswith(":latest"), "production pins an image tag"
