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
