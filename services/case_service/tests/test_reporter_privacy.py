"""Reporter privacy (PIPL): encrypted at rest with a lookup hash, masked by default, revealed
with a reason into an append-only audit, the phone erased a configurable time after closure."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    HOUSING,
    LEADER_A,
    RESIDENT,
    SUPERVISOR_S1,
    URBAN,
    WORKER_A,
    Api,
)
from test_access import dispatched_case
from test_lifecycle import api_sessionmaker

from case_service.config import Settings
from case_service.privacy import service as privacy
from shared.db import utcnow
from shared.pii import PiiCipher, PiiKeyMissing

MIGRATION = (
    Path(__file__).resolve().parents[1]
    / "migrations"
    / "versions"
    / "2026-12-06-1430_reporter_privacy.py"
)


def dev_cipher() -> PiiCipher:
    settings = Settings()
    return PiiCipher.from_keys(settings.pii_keys, settings.pii_hash_key)


async def stored(api: Api, case_id: str) -> Any:
    async with api_sessionmaker(api)() as session:
        return (
            await session.execute(
                sa.text(
                    "SELECT reporter_name, reporter_phone, reporter_phone_hash, "
                    'reporter_phone_erased_at FROM "case" WHERE id = :id'
                ),
                {"id": case_id},
            )
        ).one()


async def test_reporter_is_encrypted_at_rest_with_a_lookup_hash(api: Api) -> None:
    case = await api.report(RESIDENT)
    row = await stored(api, case["id"])
    assert "王小明" not in row.reporter_name
    assert "13812345678" not in row.reporter_phone
    assert row.reporter_name.startswith("dev1:")
    assert row.reporter_phone.startswith("dev1:")
    cipher = dev_cipher()
    assert cipher.decrypt(row.reporter_name, field="case.reporter_name") == "王小明"
    assert cipher.decrypt(row.reporter_phone, field="case.reporter_phone") == "13812345678"
    assert row.reporter_phone_hash == cipher.lookup_hash("138 1234 5678")
    # the field is bound: a name ciphertext does not open as a phone
    with pytest.raises(PiiKeyMissing):
        cipher.decrypt(row.reporter_name, field="case.reporter_phone")
    # the reporter still reads their own details in clear
    mine = (await api.get(RESIDENT, f"/api/v1/cases/{case['id']}")).json()["reporter"]
    assert (mine["name"], mine["phone"], mine["masked"]) == ("王小明", "13812345678", False)


async def test_a_department_handler_sees_the_phone_masked_until_revealing(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}"
    masked = (await api.get(URBAN, url)).json()["reporter"]
    assert (masked["name"], masked["phone"], masked["masked"]) == ("王**", "138****5678", True)

    r = await api.get(URBAN, url, reveal="true", reason="回电核实处理情况")
    assert r.status_code == 200, r.text
    clear = r.json()["reporter"]
    assert (clear["name"], clear["phone"], clear["masked"]) == ("王小明", "13812345678", False)
    # the action answers stay masked: only an explicit reveal shows the phone
    claimed = await api.act(URBAN, case["id"], "claim")
    assert claimed.json()["reporter"]["phone"] == "138****5678"

    async with api_sessionmaker(api)() as session:
        audit = (
            await session.execute(
                sa.text(
                    "SELECT case_id, actor_id, actor_roles, fields, reason FROM reporter_reveal"
                )
            )
        ).all()
    assert [tuple(a) for a in audit] == [
        (
            uuid.UUID(case["id"]),
            URBAN.sub,
            ["department_handler"],
            ["name", "phone"],
            "回电核实处理情况",
        )
    ]


async def test_reveal_needs_a_reason_and_a_role_that_calls_back(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}"
    no_reason = await api.get(DISPATCHER_C1, url, reveal="true")
    assert no_reason.status_code == 422
    body = no_reason.json()
    assert (body["code"], body["detail"]) == (
        "reveal_reason_required",
        "请说明查看完整联系方式的理由",
    )
    assert body["errors"] == [
        {"field": "query.reason", "reason": "reveal=true 时必填", "type": "missing"}
    ]
    blank = await api.get(DISPATCHER_C1, url, reveal="true", reason="   ")
    assert blank.status_code == 422
    for who in (SUPERVISOR_S1, LEADER_A, WORKER_A):  # see the case, do not call back on it
        r = await api.get(who, url, reveal="true", reason="看看")
        assert (r.status_code, r.json()["code"]) == (403, "reveal_not_allowed"), who
    assert (await api.get(HOUSING, url, reveal="true", reason="看看")).status_code == 404
    en = await api.client.get(
        url,
        params={"reveal": "true", "reason": "x"},
        headers=api.headers(SUPERVISOR_S1, **{"Accept-Language": "en"}),
    )
    assert en.json()["detail"].startswith("Your role may not see this case's reporter")
    for who in (DISPATCHER_C1, ADMIN):
        r = await api.get(who, url, reveal="true", reason="回访")
        assert r.json()["reporter"]["phone"] == "13812345678", who
    async with api_sessionmaker(api)() as session:
        actors = (
            (await session.execute(sa.text("SELECT actor_id FROM reporter_reveal ORDER BY 1")))
            .scalars()
            .all()
        )
    assert sorted(actors) == sorted([DISPATCHER_C1.sub, ADMIN.sub])  # refusals leave no row


async def test_an_anonymous_reporter_cannot_be_revealed(api: Api) -> None:
    case = await dispatched_case(
        api,
        category_code="0601",
        reporter={"name": "匿名者", "phone": "13812345678", "anonymous": True},
    )
    r = await api.get(URBAN, f"/api/v1/cases/{case['id']}", reveal="true", reason="回电")
    assert (r.status_code, r.json()["code"]) == (403, "reveal_not_allowed")


async def test_the_reveal_audit_is_append_only(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    await api.get(URBAN, f"/api/v1/cases/{case['id']}", reveal="true", reason="回电")
    for statement in ("UPDATE reporter_reveal SET reason = 'x'", "DELETE FROM reporter_reveal"):
        async with api_sessionmaker(api)() as session:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await session.execute(sa.text(statement))
            await session.rollback()


async def _closed_case(api: Api) -> dict[str, Any]:
    case = await api.report(RESIDENT)
    await api.act(DISPATCHER_C1, case["id"], "accept")
    await api.act(DISPATCHER_C1, case["id"], "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    await api.act(WORKER_A, case["id"], "claim")
    await api.act(WORKER_A, case["id"], "resolve", result="已修复")
    r = await api.act(DISPATCHER_C1, case["id"], "verify")
    assert r.json()["status"] == "closed"
    return case


async def test_the_reporter_phone_is_erased_the_configured_time_after_closure(api: Api) -> None:
    old = await _closed_case(api)
    recent = await _closed_case(api)
    still_open = await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    async with maker() as session, session.begin():
        await session.execute(
            sa.text("UPDATE \"case\" SET closed_at = now() - interval '31 days' WHERE id = :id"),
            {"id": old["id"]},
        )
    worker = privacy.ErasureWorker(maker, retention_days=30, poll_seconds=60)
    assert await worker.run_once() == 1
    gone = await stored(api, old["id"])
    assert (gone.reporter_phone, gone.reporter_phone_hash) == (None, None)
    assert gone.reporter_phone_erased_at is not None
    assert gone.reporter_name is not None  # only the phone is erased
    for kept in (recent, still_open):
        row = await stored(api, kept["id"])
        assert row.reporter_phone is not None
        assert row.reporter_phone_erased_at is None
    reporter = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{old['id']}")).json()["reporter"]
    assert (reporter["name"], reporter["phone"]) == ("王**", None)
    # a longer retention keeps them; the setting is what the app's worker uses
    assert await privacy.ErasureWorker(maker, retention_days=60, poll_seconds=60).run_once() == 0
    app_worker = api.client._transport.app.state.reporter_erasure  # type: ignore[attr-defined]
    assert app_worker.retention == timedelta(days=Settings().reporter_phone_retention_days)
    later = privacy.ErasureWorker(
        maker, retention_days=30, poll_seconds=60, clock=lambda: utcnow() + timedelta(days=31)
    )
    assert await later.run_once() == 1  # the recently closed one, a month on


def test_retention_is_a_setting() -> None:
    assert Settings(reporter_phone_retention_days=7).reporter_phone_retention_days == 7
    with pytest.raises(ValueError):
        Settings(reporter_phone_retention_days=-1)
    production = {"environment": "production", "grid_client_secret": "s" * 20}
    with pytest.raises(ValueError, match="pii_keys"):
        Settings(**production)  # type: ignore[arg-type]


async def test_the_migration_encrypts_existing_plaintext_rows(api: Api) -> None:
    """Rows written before the migration held plain names and phones: the migration's rewrite
    encrypts them in place (and its downgrade decrypts them back)."""
    case = await api.report(RESIDENT)
    spec = importlib.util.spec_from_file_location("privacy01", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = api_sessionmaker(api).kw["bind"]

    def rewrite(conn: sa.Connection, encrypt: bool) -> None:
        with Operations.context(MigrationContext.configure(conn)):
            migration._rewrite(encrypt=encrypt)

    async with engine.begin() as conn:
        await conn.run_sync(rewrite, False)  # back to how the rows were before
    before = await stored(api, case["id"])
    assert (before.reporter_name, before.reporter_phone) == ("王小明", "13812345678")
    async with engine.begin() as conn:
        await conn.run_sync(rewrite, True)
    after = await stored(api, case["id"])
    assert after.reporter_phone.startswith("dev1:")
    assert after.reporter_phone_hash == dev_cipher().lookup_hash("13812345678")
    reporter = (await api.get(RESIDENT, f"/api/v1/cases/{case['id']}")).json()["reporter"]
    assert (reporter["name"], reporter["phone"]) == ("王小明", "13812345678")


async def test_a_dispatcher_finds_a_callers_cases_by_phone(api: Api) -> None:
    """12345 来电历史: the lookup hash finds the cases of a phone however it is written."""
    first = await api.report(RESIDENT)
    second = await api.report(RESIDENT, reporter={"name": "王小明", "phone": "+8613812345678"})
    await api.report(RESIDENT, reporter={"name": "李四", "phone": "13900001111"})
    for written in ("13812345678", "+86 138 1234 5678"):
        r = await api.get(DISPATCHER_C1, "/api/v1/cases", reporter_phone=written)
        assert r.status_code == 200, r.text
        assert {c["id"] for c in r.json()["items"]} == {first["id"], second["id"]}, written
    assert (await api.get(ADMIN, "/api/v1/cases", reporter_phone="13700000000")).json()[
        "items"
    ] == []
    refused = await api.get(SUPERVISOR_S1, "/api/v1/cases", reporter_phone="13812345678")
    assert (refused.status_code, refused.json()["code"]) == (403, "reveal_not_allowed")
    bad = await api.get(DISPATCHER_C1, "/api/v1/cases", reporter_phone="abc")
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "query.reporter_phone")


async def test_the_phone_lookup_walks_its_index(api: Api) -> None:
    from test_list_indexes import ordered

    from case_service.cases.repository import CaseFilters

    stmt = ordered(ADMIN, CaseFilters(reporter_phone_hash="ab" * 32), later_page=False)
    engine = api_sessionmaker(api).kw["bind"]
    async with engine.connect() as conn:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await conn.execute(sa.text(f"SET {setting} = off"))
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[k] for k in compiled.positiontup or [])
        plan = "\n".join(
            row[0] for row in (await conn.exec_driver_sql("EXPLAIN " + str(compiled), params))
        )
    assert "ix_case_reporter_phone_hash_created_at_id" in plan, plan
    assert "Sort" not in plan, plan


async def test_admins_and_supervisors_read_the_reveal_audit(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}"
    await api.get(URBAN, url, reveal="true", reason="回电核实处理情况")
    await api.get(DISPATCHER_C1, url, reveal="true", reason="回访")
    for who in (ADMIN, SUPERVISOR_S1):
        r = await api.get(who, f"{url}/reporter-reveals", limit=1)
        assert r.status_code == 200, r.text
        page = r.json()
        assert [(i["actor_id"], i["reason"]) for i in page["items"]] == [
            (DISPATCHER_C1.sub, "回访")
        ]
        rest = await api.get(who, f"{url}/reporter-reveals", cursor=page["next_cursor"])
        assert [i["actor_id"] for i in rest.json()["items"]] == [URBAN.sub]
    for who in (URBAN, DISPATCHER_C1, RESIDENT):
        r = await api.get(who, f"{url}/reporter-reveals")
        assert (r.status_code, r.json()["code"]) == (403, "missing_role"), who
