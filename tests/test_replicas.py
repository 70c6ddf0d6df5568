"""Two processes of every service at once, as in production: behind the gateway (Debian's nginx
with the compose configuration: least connections, an idempotent request retried on the other
replica, never a POST) and through PgBouncer in transaction mode, every replica running its
background workers. What must be one across replicas is one: a token, the SMS caps per number,
the idempotency store, the timers and the statistics — even when a replica of each service is
killed in the middle of a burst."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from shared.testing import REPO_ROOT
from tests.conftest import FAST
from tests.helpers import PASSWORD, Person, eventually, login, platform_client, query
from tests.system import System, start_system, stop_system
from tests.test_load import burst

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"

# the module's system (six processes, nginx, PgBouncer) starts once, in the first test's time
pytestmark = pytest.mark.timeout(900)

#: reports in the burst (the single-process burst of tests/test_load.py sends 2,000; at two
#: replicas of everything on a shared CI machine, 300 keep this module within a few minutes)
REPORTS = 300
CLIENTS = 20
#: the burst's category gets an acceptance limit of 1.8 s: every case's timer falls due during
#: the burst, while replicas die and come back
CATEGORY = "0803"

#: a revoked sign-in fails everywhere within this (as tests/test_revocation_system.py, with
#: one process each)
REVOCATION_BOUND_SECONDS = 5.0

REPLICATED = {
    **FAST,
    # a claim of a killed notify replica is settled within seconds, not minutes
    "NOTIFY_PROVIDER_TIMEOUT_SECONDS": "2",
    "NOTIFY_CLAIM_LEASE_SECONDS": "4",
}


@pytest_asyncio.fixture(scope="module")
async def replicated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    tmp: Path = tmp_path_factory.mktemp("replicas")
    running = await start_system(tmp, REPLICATED, demo=True, replicas=2, pgbouncer=True)
    yield running
    await stop_system(running)


def gateway(system: System) -> str:
    assert system.gateway is not None
    return system.gateway.url


async def test_the_runner_starts_two_of_each_behind_nginx_and_pgbouncer(
    replicated: System,
) -> None:
    """Every path of the public API through the gateway reaches both replicas; the services
    hold their connections at PgBouncer, and PgBouncer few at PostgreSQL."""
    assert {key: len(group) for key, group in replicated.replicas.items()} == {
        "grid": 2,
        "case": 2,
        "notify": 2,
    }
    resident = await login(replicated, "resident", base=gateway(replicated))
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(6):
            r = await client.get(gateway(replicated) + "/api/v1/cases", headers=resident.headers)
            assert r.status_code == 200, r.text
    served = {
        p.port: sum(1 for line in p.log_lines() if line.get("path") == "/api/v1/cases")
        for p in replicated.replicas["case"]
    }
    assert all(n > 0 for n in served.values()), served  # least_conn used both
    assert replicated.pgbouncer is not None
    names = [u.rsplit("/", 1)[1] for u in replicated.database_urls.values()]
    backends = await query(
        replicated,
        "case",
        "SELECT datname, count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1::text[])"
        " AND pid <> pg_backend_pid() GROUP BY datname",
        names,
    )
    # six processes with pools of up to 10 each, PgBouncer's server pool of 8 per database
    assert all(r["n"] <= 8 for r in backends), [dict(r) for r in backends]


async def test_a_token_from_either_grid_replica_is_accepted_and_revoked_everywhere(
    replicated: System,
) -> None:
    """A sign-in at either grid_service replica works at all six processes; revoked at one,
    it fails at all six within REVOCATION_BOUND_SECONDS (each process polls the revocation
    feed every second, through the balancer, whichever replica answers)."""
    probes = {"case": "/api/v1/cases", "grid": "/api/v1/accounts/me", "notify": "/api/v1/inbox"}
    processes = replicated.processes()
    async with httpx.AsyncClient(timeout=30) as client:
        for issuer, revoker in zip(
            replicated.replicas["grid"], reversed(replicated.replicas["grid"]), strict=True
        ):
            signed_in = await client.post(
                issuer.url + "/api/v1/auth/token",
                data={"grant_type": "password", "username": "dispatcher", "password": PASSWORD},
            )
            assert signed_in.status_code == 200, signed_in.text
            tokens = signed_in.json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            for p in processes:
                r = await client.get(p.url + probes[p.key], headers=headers)
                assert r.status_code == 200, (issuer.port, p.module, p.port, r.text)
            revoked = await client.post(
                revoker.url + "/api/v1/auth/revoke", data={"token": tokens["refresh_token"]}
            )
            assert revoked.status_code == 200, revoked.text
            started = time.monotonic()
            seen: dict[int, float] = {}
            while len(seen) < len(processes) and time.monotonic() - started < 20:
                for p in processes:
                    if p.port in seen:
                        continue
                    r = await client.get(p.url + probes[p.key], headers=headers)
                    if r.status_code == 401:
                        assert r.json()["code"] == "token_revoked", r.text
                        seen[p.port] = time.monotonic() - started
                await asyncio.sleep(0.1)
            assert set(seen) == {p.port for p in processes}, seen
            assert max(seen.values()) <= REVOCATION_BOUND_SECONDS, seen


async def test_every_metric_of_the_alerts_and_the_dashboard_is_on_metrics(
    replicated: System,
) -> None:
    """deploy/prometheus names only metrics the services expose (on every replica)."""
    text = "".join(p.read_text(encoding="utf-8") for p in PROMETHEUS.iterdir())
    names = set(re.findall(r"\bgridgov_[a-z0-9_]+", text))
    assert "gridgov_outbox_oldest_pending_seconds" in names
    async with httpx.AsyncClient(timeout=30) as client:
        for p in replicated.processes():
            r = await client.get(p.url + "/metrics")
            assert r.status_code == 200, r.text
            exposed = set(re.findall(r"^(?:# (?:HELP|TYPE) )?(gridgov_[a-z0-9_]+)", r.text, re.M))
            histograms = re.findall(r"^# TYPE (gridgov_[a-z0-9_]+) histogram", r.text, re.M)
            exposed |= {h + suffix for h in histograms for suffix in ("_bucket", "_count", "_sum")}
            assert names <= exposed, (p.module, p.port, sorted(names - exposed))
            if p.key == "case":  # read from the database at the scrape
                assert re.search(
                    r'^gridgov_outbox_pending_events\{service="case_service"\} \d', r.text, re.M
                ), r.text


async def test_a_replica_of_each_service_killed_mid_burst_loses_and_doubles_nothing(
    replicated: System,
) -> None:
    admin = await login(replicated, "admin", base=gateway(replicated))
    resident = await login(replicated, "resident", base=gateway(replicated))
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            gateway(replicated) + "/api/v1/sla/policies",
            headers=admin.headers,
            json={
                "name": "副本故障测试：路灯 1.8 秒受理",
                "category_code": CATEGORY,
                "limits": {
                    "accept": {"amount": 0.0005, "unit": "calendar_hours"},
                    "resolve": {"amount": 1, "unit": "working_days"},
                },
            },
        )
        assert r.status_code == 201, r.text
    received_before = await received(replicated, admin)
    tag = f"replicas-{uuid.uuid4().hex[:6]}"
    task = asyncio.create_task(
        burst(
            replicated,
            resident.token,
            reports=REPORTS,
            clients=CLIENTS,
            tag=tag,
            retry=True,
            base=gateway(replicated),
            category_code=CATEGORY,
        )
    )

    async def some_in() -> bool:
        rows = await query(
            replicated, "case", 'SELECT count(*) FROM "case" WHERE description LIKE $1', f"{tag} %"
        )
        return bool(rows[0][0] >= REPORTS // 4)

    await eventually(some_in, timeout=120, what="a quarter of the burst")
    victims = [group[1] for group in replicated.replicas.values()]
    for victim in victims:
        victim.kill()
    await asyncio.sleep(2)
    for victim in victims:
        victim.start()
    created, statuses = await task
    await asyncio.gather(*(victim.wait_ready() for victim in victims))

    # every report in, once (the clients retried what failed, with the same key)
    assert len(created) == REPORTS
    ids = [uuid.UUID(v) for v in created.values()]
    assert len(set(ids)) == REPORTS
    rows = await query(
        replicated, "case", 'SELECT count(*) FROM "case" WHERE description LIKE $1', f"{tag} %"
    )
    assert rows[0][0] == REPORTS
    assert any(s in (0, 502, 503) for s in statuses), "the kill was not felt by any client"

    async def settled() -> bool:
        rows = await query(
            replicated,
            "case",
            "SELECT count(*) FILTER (WHERE relayed_at IS NULL) AS pending,"
            " count(*) FILTER (WHERE type = 'case.overdue') AS overdue"
            " FROM outbox_event WHERE case_id = ANY($1::uuid[])",
            ids,
        )
        return bool(rows[0]["pending"] == 0 and rows[0]["overdue"] >= REPORTS)

    # a relay killed with a claimed batch hands it on after its 60 s lease
    await eventually(settled, timeout=180, what="every event relayed, every timer fired")

    per_case = await query(
        replicated,
        "case",
        "SELECT type, count(*) AS events, count(DISTINCT case_id) AS cases FROM outbox_event"
        " WHERE case_id = ANY($1::uuid[]) GROUP BY type",
        ids,
    )
    events = {r["type"]: (r["events"], r["cases"]) for r in per_case}
    assert {"case.reported", "case.overdue"} <= set(events), events
    # one of each type per case (reported, the reminder before the limit, overdue)
    assert set(events.values()) == {(REPORTS, REPORTS)}, events
    timeline = await query(
        replicated,
        "case",
        "SELECT kind, action, count(*) AS n, count(DISTINCT case_id) AS cases"
        " FROM timeline_entry WHERE case_id = ANY($1::uuid[]) GROUP BY kind, action",
        ids,
    )
    assert timeline, "no timeline entries"
    for row in timeline:  # one of each kind per case
        assert row["n"] == row["cases"] == REPORTS, dict(row)
    timers = await query(
        replicated,
        "case",
        "SELECT count(*) AS n, count(DISTINCT case_id) AS cases,"
        " count(*) FILTER (WHERE fired_at IS NULL) AS unfired"
        " FROM sla_timer WHERE case_id = ANY($1::uuid[]) AND kind = 'overdue'",
        ids,
    )
    assert dict(timers[0]) == {"n": REPORTS, "cases": REPORTS, "unfired": 0}
    supervised = await query(
        replicated,
        "case",
        "SELECT count(*) AS n, count(DISTINCT case_id) AS cases FROM supervision"
        " WHERE case_id = ANY($1::uuid[]) AND kind = 'overdue'",
        ids,
    )
    assert dict(supervised[0]) == {"n": REPORTS, "cases": REPORTS}

    # notify_service: one message per overdue event and person, each with at most one inbox
    # item; every message recorded as delivered has its inbox item
    overdue_ids = [
        str(r["id"])
        for r in await query(
            replicated,
            "case",
            "SELECT id FROM outbox_event WHERE case_id = ANY($1::uuid[]) AND type = 'case.overdue'",
            ids,
        )
    ]

    async def notified() -> bool:
        rows = await query(
            replicated,
            "notify",
            "SELECT count(DISTINCT source_event_id) AS events,"
            " count(*) FILTER (WHERE status IN ('queued', 'sending', 'deferred')) AS open"
            " FROM notification WHERE source_event_id = ANY($1::uuid[])",
            overdue_ids,
        )
        return bool(rows[0]["events"] == REPORTS and rows[0]["open"] == 0)

    await eventually(notified, timeout=120, what="every overdue event's messages settled")
    doubled = await query(
        replicated,
        "notify",
        "SELECT source_event_id, recipient_account_id, template_key, count(*) AS n"
        " FROM notification WHERE source_event_id = ANY($1::uuid[])"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1",
        overdue_ids,
    )
    assert doubled == []
    inbox = await query(
        replicated,
        "notify",
        "SELECT n.status, count(*) AS messages, count(i.id) AS items,"
        " count(DISTINCT i.notification_id) AS distinct_items"
        " FROM notification n LEFT JOIN inbox_item i ON i.notification_id = n.id"
        " WHERE n.source_event_id = ANY($1::uuid[]) GROUP BY n.status",
        overdue_ids,
    )
    by_status = {r["status"]: dict(r) for r in inbox}
    assert by_status, "no messages"
    for status, row in by_status.items():
        assert row["items"] == row["distinct_items"], (status, row)  # never two for one
        if status in ("sent", "delivered"):
            assert row["items"] == row["messages"], (status, row)
    # statistics: the rollup (run by every case replica) counts each report once
    await eventually(
        lambda: counted(replicated, admin, received_before + REPORTS),
        timeout=60,
        what="statistics equal to the recount",
    )


async def received(system: System, admin: Person) -> int:
    """Cases received since 2020 by the statistics (scope: the whole city)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    async with httpx.AsyncClient(timeout=60) as client:
        r = await client.get(
            gateway(system) + "/api/v1/stats/indicators",
            params={"date_from": "2020-01-01", "date_to": today},
            headers=admin.headers,
        )
    assert r.status_code == 200, r.text
    return int(r.json()["rows"][0]["indicators"]["received"]["numerator"])


async def counted(system: System, admin: Person, expected: int) -> bool:
    recount = await query(system, "case", 'SELECT count(*) FROM "case"')
    return await received(system, admin) == expected == recount[0][0]


async def test_sms_caps_per_number_hold_across_two_notify_replicas(replicated: System) -> None:
    """One SMS per number per minute: ten messages to one number reach both replicas' delivery
    loops at once (batches of one); one is sent, nine wait for the cap. A cap counted per
    process would let each replica send one."""
    for process in replicated.replicas["notify"]:
        process.stop()
        process.env.update(
            NOTIFY_SMS_CAP_PER_MINUTE="1",
            NOTIFY_WORKER_BATCH_SIZE="1",
            NOTIFY_WORKER_CONCURRENCY="3",
        )
    for process in replicated.replicas["notify"]:
        process.start()
    await asyncio.gather(*(p.wait_ready() for p in replicated.replicas["notify"]))
    # explicit phone numbers are for system clients (a platform sending messages)
    sender = await platform_client(replicated, "notifications:write")
    phone = "1390000" + str(uuid.uuid4().int)[:4]
    async with httpx.AsyncClient(timeout=30) as client:
        sent = await asyncio.gather(
            *(
                client.post(
                    gateway(replicated) + "/api/v1/notifications",
                    json={
                        "template_key": "case_accepted",
                        "variables": {"case_number": f"CAP-{i}"},
                        "recipient": {"phone": phone},
                    },
                    headers={**sender.headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                for i in range(10)
            )
        )
        assert [r.status_code for r in sent] == [202] * 10, [r.text for r in sent]
        nids = [r.json()["id"] for r in sent]

        async def statuses() -> list[tuple[str, str | None]]:
            out = []
            for nid in nids:
                r = await client.get(
                    gateway(replicated) + f"/api/v1/notifications/{nid}",
                    headers=sender.headers,
                )
                assert r.status_code == 200, r.text
                out.append((r.json()["status"], r.json().get("last_error_code")))
            return out

        async def planned() -> bool:
            return all(s not in ("queued", "sending") for s, _ in await statuses())

        await eventually(planned, timeout=60, what="every message planned")
        got = await statuses()
    delivered = [s for s, _ in got if s in ("sent", "delivered")]
    assert len(delivered) == 1, got
    assert got.count(("deferred", "frequency_cap")) == 9, got
