"""Load and database faults: a bounded burst of reports from many clients, and the database
connections cut in the middle of one. Nothing is lost or doubled; the services recover alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.helpers import eventually, login, query, report_body
from tests.system import System


async def burst(
    system: System,
    token: str,
    *,
    reports: int,
    clients: int,
    tag: str,
    retry: bool,
    base: str | None = None,
    each: Callable[[str], dict[str, Any]] | None = None,
    network: str | None = None,
    **fields: Any,
) -> tuple[dict[str, str], list[int]]:
    """``reports`` reports from ``clients`` concurrent clients, each with its own
    Idempotency-Key; with ``retry``, a failed attempt is repeated with the same key. `base`:
    where to send them (default case_service, or its balancer); `fields`: of each report;
    `each`: more fields of one report, from its key (a platform's external_id).

    `network` (e.g. ``"10.20"``): each client sends from an address of its own in it, told
    to the gateway in ``X-Forwarded-For`` (which the local gateway trusts from loopback, as
    production's trusts its load balancer). Through the gateway, the clients are then as
    many phones as there are clients, each within the per-address rate of deploy/routes.yaml,
    and not one address whose excess the gateway answers with 429."""
    url = (base or system.url("case")) + "/api/v1/cases"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(reports):
        queue.put_nowait(i)
    created: dict[str, str] = {}
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def client_loop(n: int) -> None:
        own = {"X-Forwarded-For": f"{network}.{n // 250}.{n % 250 + 1}"} if network else {}
        async with httpx.AsyncClient(timeout=30, headers=own) as client:
            while not queue.empty():
                i = queue.get_nowait()
                key = f"{tag}-{i}"
                for _attempt in range(20):
                    try:
                        r = await client.post(
                            url,
                            json=report_body(
                                description=f"{tag} 第{i}件",
                                **fields,
                                **(each(key) if each else {}),
                            ),
                            headers={**headers, "Idempotency-Key": key},
                        )
                        statuses.append(r.status_code)
                    except httpx.TransportError:
                        statuses.append(0)
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        created[key] = r.json()["id"]
                        break
                    if not retry:
                        break
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    return created, statuses


async def relayed(system: System, ids: list[uuid.UUID]) -> bool:
    rows = await query(
        system,
        "case",
        "SELECT count(*) FROM outbox_event WHERE case_id = ANY($1::uuid[]) AND relayed_at IS NULL",
        ids,
    )
    return rows[0][0] == 0


async def test_a_burst_of_reports_from_fifty_clients(system: System) -> None:
    resident = await login(system, "resident")
    created, statuses = await burst(
        system,
        resident.token,
        reports=2000,
        clients=50,
        tag=f"load-{uuid.uuid4().hex[:6]}",
        retry=False,
    )
    assert [s for s in statuses if s >= 500 or s == 0] == []
    assert len(created) == 2000
    ids = [uuid.UUID(v) for v in created.values()]
    located = await query(
        system,
        "case",
        'SELECT count(*) FROM "case" WHERE id ='
        " ANY($1::uuid[]) AND area_path LIKE '330100.330106.%'",
        ids,
    )
    assert located[0][0] == 2000  # every one placed in its grid by grid_service
    await eventually(lambda: relayed(system, ids), timeout=120, what="every event relayed")


async def test_database_connections_cut_mid_burst(system: System) -> None:
    resident = await login(system, "resident")
    tag = f"cut-{uuid.uuid4().hex[:6]}"
    task = asyncio.create_task(
        burst(system, resident.token, reports=200, clients=20, tag=tag, retry=True)
    )
    await asyncio.sleep(1.0)
    names = [system.database_urls[k].rsplit("/", 1)[1].split("?")[0] for k in ("case", "grid")]
    cut = await query(
        system,
        "case",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
        names,
    )
    assert cut[0][0] > 0
    created, statuses = await task
    assert len(created) == 200  # every report made it in the end (clients retried with keys)
    # a request whose connection was cut is a 503 to retry (database_unavailable), not a 500
    assert 500 not in statuses, sorted(set(statuses))
    ids = [uuid.UUID(v) for v in created.values()]
    assert len(set(ids)) == 200
    rows = await query(
        system, "case", 'SELECT count(*) FROM "case" WHERE description LIKE $1', f"{tag} %"
    )
    assert rows[0][0] == 200  # nothing doubled by the retries
    events = await query(
        system,
        "case",
        "SELECT case_id, count(*) AS n FROM outbox_event WHERE"
        " case_id = ANY($1::uuid[]) AND type = 'case.reported'"
        " GROUP BY case_id",
        ids,
    )
    assert {r["n"] for r in events} == {1}
    assert len(events) == 200
    await eventually(lambda: relayed(system, ids), timeout=120, what="every event relayed")
    async with httpx.AsyncClient() as client:  # recovered without a restart
        for svc in system.services.values():
            assert (await client.get(svc.url + "/readyz")).status_code == 200
