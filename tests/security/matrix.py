"""Who may call what: every operation of the three services' OpenAPI documents × every demo
role (and a platform client, and no token), the outcome class each gets, compared with the
reviewed table in ``tests/security/expected_matrix.csv``.

Each call carries an empty JSON body ``{}`` and path parameters that name nothing (a fixed
uuid, ``0``, ``zz``): with authorization before validation a caller that may not call the
operation gets 401 or 403, one that may gets anything else (404, 422, 200 …) — ``allowed``.
Object-level rules (whose case, which area) are not what this table shows; the BOLA tests
next to it check those.

Regenerate the table after an intended change of who may call what, and review its diff::

    uv run --frozen python -m tests.security.matrix --write
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import PASSWORD
from tests.system import System, start_system, stop_system

EXPECTED = Path(__file__).with_name("expected_matrix.csv")
SERVICES = ("grid", "case", "notify")
METHODS = ("get", "post", "put", "patch", "delete")
#: the demo accounts (grid_service ``demo.py``), one per role
USERS = ("admin", "dispatcher", "leader", "worker", "handler", "supervisor", "resident")
#: the demo platform client (client credentials, scope ``open311``)
PLATFORM = ("platform", "open311-demo", "demo-open311-secret")
ROLES = (*USERS, PLATFORM[0], "anonymous")
COLUMNS = ("service", "method", "path", "role", "expected")
NOTHING = "00000000-0000-4000-8000-00000000dead"
#: enumerated path parameters whose every value is a row of its own
EXPANDED = {"action"}
#: (service, method, path) not called — none today; an operation that acted on the caller's
#: own sign-in would go here (the rows after it would see a revoked token), with its reason
SKIPPED: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str  # as in the OpenAPI document; an expanded parameter's value filled in
    params: dict[str, str]

    @property
    def url_path(self) -> str:
        path = self.path
        for name, value in self.params.items():
            path = path.replace("{" + name + "}", value)
        return path


def outcome(status: int) -> str:
    if status == 401:
        return "401"
    if status == 403:
        return "403"
    return "allowed"


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def path_values(document: dict[str, Any], param: dict[str, Any]) -> list[str]:
    """Values naming nothing for one path parameter; every value of an enumerated one named
    in ``EXPANDED`` (each lifecycle action is its own row), the first value of another."""
    schema = resolve(document, param.get("schema", {}))
    for part in [schema, *schema.get("anyOf", []), *schema.get("allOf", [])]:
        part = resolve(document, part)
        if "enum" in part:
            values = [str(v) for v in part["enum"]]
            return values if param["name"] in EXPANDED else values[:1]
        if part.get("format") == "uuid":
            return [NOTHING]
        if part.get("format") == "date":
            return ["2000-01-01"]
        if part.get("type") == "integer":
            return ["0"]
    return ["zz"]


def operations(service: str, document: dict[str, Any]) -> list[Operation]:
    out = []
    for path, item in sorted(document.get("paths", {}).items()):
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [
                (p["name"], path_values(document, p))
                for p in [*item.get("parameters", []), *op.get("parameters", [])]
                if p.get("in") == "path"
            ]
            combos: list[tuple[str, dict[str, str]]] = [(path, {})]
            for name, values in params:
                nxt = []
                for shown, filled in combos:
                    for value in values:
                        label = shown.replace("{" + name + "}", value)
                        nxt.append((label if name in EXPANDED else shown, {**filled, name: value}))
                combos = nxt
            out.extend(Operation(service, method.upper(), label, fill) for label, fill in combos)
    # an expanded value with a route of its own (``/actions/locate`` beside
    # ``/actions/{action}``) is one URL: one row
    unique: dict[tuple[str, str], Operation] = {}
    for op in out:
        unique.setdefault((op.method, op.path), op)
    return list(unique.values())


async def tokens(client: httpx.AsyncClient, system: System) -> dict[str, str | None]:
    url = system["grid"].url + "/api/v1/auth/token"

    async def user(name: str) -> str:
        r = await client.post(
            url, data={"grant_type": "password", "username": name, "password": PASSWORD}
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    out: dict[str, str | None] = dict(
        zip(USERS, await asyncio.gather(*(user(u) for u in USERS)), strict=True)
    )
    _, client_id, secret = PLATFORM
    r = await client.post(
        url,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    r.raise_for_status()
    out[PLATFORM[0]] = str(r.json()["access_token"])
    out["anonymous"] = None
    return out


async def observe(system: System) -> list[dict[str, str]]:
    """The observed table, sorted like the CSV."""
    rows: list[dict[str, str]] = []
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        who = await tokens(client, system)
        ops: list[Operation] = []
        for key in SERVICES:
            document = (await client.get(system[key].url + "/openapi.json")).json()
            ops.extend(operations(key, document))
        gate = asyncio.Semaphore(8)

        async def call(op: Operation, role: str) -> dict[str, str]:
            url = system[op.service].url + op.url_path
            token = who[role]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            kwargs: dict[str, Any] = {}
            if op.method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            async with gate:
                r = await client.request(op.method, url, headers=headers, **kwargs)
            return {
                "service": op.service,
                "method": op.method,
                "path": op.path,
                "role": role,
                "expected": outcome(r.status_code),
            }

        # one operation at a time for every role (roles in parallel): an operation's effect
        # on the system cannot change the answers of another's rows
        for op in ops:
            if (op.service, op.method, op.path) in SKIPPED:
                continue
            rows.extend(await asyncio.gather(*(call(op, role) for role in ROLES)))
    return sort(rows)


def sort(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    order = {r: i for i, r in enumerate(ROLES)}
    return sorted(
        rows, key=lambda r: (r["service"], r["path"], r["method"], order.get(r["role"], 99))
    )


def read_expected(path: Path = EXPECTED) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return sort([dict(r) for r in csv.DictReader(f)])


def render(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def differences(expected: list[dict[str, str]], observed: list[dict[str, str]]) -> list[str]:
    """One line per differing row: ``service METHOD path role: expected X, observed Y``."""

    def key(r: dict[str, str]) -> tuple[str, str, str, str]:
        return (r["service"], r["method"], r["path"], r["role"])

    want = {key(r): r["expected"] for r in expected}
    got = {key(r): r["expected"] for r in observed}
    lines = []
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            lines.append(
                f"{' '.join(k)}: expected {want.get(k, '(no row)')},"
                f" observed {got.get(k, '(no operation)')}"
            )
    return lines


async def _main(write: bool) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="matrix-") as tmp:
        system = await start_system(Path(tmp), demo=True)
        try:
            booted = time.monotonic()
            observed = await observe(system)
        finally:
            await stop_system(system)
    sys.stderr.write(
        f"{len(observed)} rows: system up in {booted - started:.0f} s,"
        f" matrix in {time.monotonic() - booted:.0f} s\n"
    )
    if write:
        EXPECTED.write_text(render(observed), encoding="utf-8")
        sys.stderr.write(f"wrote {EXPECTED}\n")
        return 0
    diff = differences(read_expected(), observed) if EXPECTED.exists() else ["(no table)"]
    sys.stderr.write(("\n".join(diff) or "no difference") + "\n")
    return 1 if diff else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite expected_matrix.csv")
    return asyncio.run(_main(parser.parse_args().write))


if __name__ == "__main__":
    sys.exit(main())
