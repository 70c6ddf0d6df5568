"""deploy/prometheus: the alert rules pass `promtool check rules` (Debian's `prometheus`
package), and every query of the Grafana dashboard is valid PromQL (checked by promtool as
recording rules). That every gridgov_* metric they name is on the services' /metrics is
checked on running services by tests/test_replicas.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from deploy_support import DEPLOY, missing_tool

from shared.local_gateway import ensure_debian_package

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
DASHBOARD = PROMETHEUS / "grafana-dashboard.json"
#: what the issue asks alerts for: a replica down, 5xx rate, outbox lag, dead letters growing,
#: provider failover, overdue rate
EXPECTED = {
    "GridgovReplicaDown",
    "GridgovServerErrors",
    "GridgovOutboxLag",
    "GridgovDeadLettersGrowing",
    "GridgovProviderFailover",
    "GridgovOverdueRate",
}


def metric_names() -> set[str]:
    """Every gridgov_* metric the rules and the dashboard name."""
    text = RULES.read_text(encoding="utf-8") + DASHBOARD.read_text(encoding="utf-8")
    return set(re.findall(r"\bgridgov_[a-z0-9_]+", text))


def _promtool() -> str:
    found = ensure_debian_package("promtool", "prometheus")
    if found is None:
        missing_tool("promtool is not installed (apt-get install prometheus)")
    assert found is not None
    return found


def _check(promtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alert_rules_pass_promtool() -> None:
    done = _check(_promtool(), RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts >= EXPECTED, EXPECTED - alerts


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(gridgov_x[5m]\n",
        encoding="utf-8",
    )
    assert _check(_promtool(), broken).returncode != 0


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"gridgov_dashboard:panel_{i}", "expr": e}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(as_rules), encoding="utf-8")
    done = _check(_promtool(), path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"case_service", "grid_service", "notify_service"} <= {
        s for e in exprs for s in re.findall(r"\w+_service", e)
    } or "by (service)" in " ".join(exprs)


#: the scrape configurations: compose finds the replicas by service name, kustomize by the
#: headless Services of deploy/k8s/base (one A record a ready pod)
SCRAPE = {
    "prometheus-compose.yml": {
        "gridgov-case": ("case-service", 8001),
        "gridgov-grid": ("grid-service", 8002),
        "gridgov-notify": ("notify-service", 8003),
    },
    "prometheus-k8s.yml": {
        "gridgov-case": ("case-service-pods.gridgov.svc.cluster.local", 8001),
        "gridgov-grid": ("grid-service-pods.gridgov.svc.cluster.local", 8002),
        "gridgov-notify": ("notify-service-pods.gridgov.svc.cluster.local", 8003),
    },
}


def test_scrape_configs_pass_promtool_and_find_every_replica() -> None:
    promtool = _promtool()
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text(encoding="utf-8"))
    k8s_services: dict[str, Any] = {}
    for name in ("case", "grid", "notify"):
        text = (DEPLOY / "k8s" / "base" / f"{name}-service.yaml").read_text(encoding="utf-8")
        for doc in yaml.safe_load_all(text):
            if doc and doc["kind"] == "Service":
                k8s_services[doc["metadata"]["name"]] = doc
    for file, jobs in SCRAPE.items():
        path = PROMETHEUS / file
        done = subprocess.run(
            [promtool, "check", "config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "alerts.yml" in done.stdout  # the alert rules are loaded with it
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        found = {
            job["job_name"]: (sd["names"], sd["type"], sd["port"])
            for job in config["scrape_configs"]
            for sd in job["dns_sd_configs"]
        }
        assert found == {job: ([host], "A", port) for job, (host, port) in jobs.items()}
        # the alerts' and the dashboard's job names are these
        assert 'job=~"gridgov-.*"' in RULES.read_text(encoding="utf-8")
        for host, port in jobs.values():
            if file == "prometheus-compose.yml":
                assert host in compose["services"], host
                assert "container_name" not in compose["services"][host]  # replicas allowed
            else:
                headless = k8s_services[host.split(".")[0]]
                assert headless["spec"]["clusterIP"] == "None"
                assert headless["spec"]["ports"][0]["port"] == port
                api = k8s_services[host.split(".")[0].removesuffix("-pods")]
                assert headless["spec"]["selector"] == api["spec"]["selector"]


def test_promtool_refuses_a_broken_scrape_config(tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    broken.write_text(
        "scrape_configs:\n  - job_name: x\n    dns_sd_configs:\n      - names: [a]\n"
        "        type: A\n",  # an A lookup needs a port
        encoding="utf-8",
    )
    done = subprocess.run(
        [_promtool(), "check", "config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
