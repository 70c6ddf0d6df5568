"""docs/deploy.md matches the files: every file and variable it names exists, and its table of
pieces gives the ports the services really use."""

from __future__ import annotations

import re
from typing import Any

from deploy_support import ROOT, SERVICES, env_example, settings_class

DOC = ROOT / "docs" / "deploy.md"
ROOTS = ("deploy/", "docs/", "tests/", "shared/", "services/", ".ci/", "scripts/")


def test_every_file_named_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`([^`\s]+)`", text))
    named |= set(re.findall(r"(?<![\w/.-])((?:deploy|docs|tests)/[\w./-]+)", text))
    checked = 0
    for token in named:
        path = token.rstrip(".,:;)")
        if "*" in path or "<" in path:
            continue
        if path.startswith(ROOTS) or path in {"docker-compose.yml", ".env.example", "uv.lock"}:
            assert (ROOT / path).exists(), f"docs/deploy.md names {path}, which does not exist"
            checked += 1
    assert checked >= 15


def test_every_variable_named_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    known = set(env_example())
    for svc in SERVICES:
        known |= {svc.env_prefix + name.upper() for name in settings_class(svc).model_fields}
    # what the PgBouncer image reads when it starts
    entrypoint = (ROOT / "deploy" / "pgbouncer" / "entrypoint.sh").read_text(encoding="utf-8")
    known |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", entrypoint))
    named = set(
        re.findall(r"\b(?:CASE|GRID|NOTIFY|GATEWAY|POSTGRES|MINIO|PGBOUNCER)_[A-Z0-9_]+\b", text)
    )
    assert named, "the page names the settings it talks about"
    assert named <= known, f"docs/deploy.md names unknown variables: {sorted(named - known)}"


def test_table_of_pieces_gives_the_real_ports(table: Any) -> None:
    text = DOC.read_text(encoding="utf-8")
    for upstream in table.services.values():
        row = re.search(rf"^\| {re.escape(upstream.host)} \|.*$", text, re.M)
        assert row, f"{upstream.host} is not in the table of pieces"
        assert f"| {upstream.port} |" in row.group(0)


def test_scaling_notes_are_there() -> None:
    text = DOC.read_text(encoding="utf-8")
    for phrase in (
        "FOR UPDATE SKIP LOCKED",
        "PgBouncer in transaction mode",
        "statement_cache_size=0",
        "province-sized",
        "kubectl apply -k deploy/k8s/overlays/production",
        "docker compose up -d --build",
    ):
        assert phrase in text, phrase
