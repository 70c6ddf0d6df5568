"""Basic information: residents with ID numbers checked, encrypted at rest, masked by role,
revealed and exported with an audit record, and found by exact number."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from basicinfo_helpers import (
    GRID1,
    GRID2,
    headers,
    id_number,
    make_resident,
    setup_grid,
)

from grid_service.basicinfo import idnumbers
from grid_service.privacy.crypto import PiiCipher
from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"
LEADER = "00000000-0000-0000-0000-00000000000b"


def worker(keys: TestKeys) -> dict[str, str]:
    return headers(keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])


def leader(keys: TestKeys) -> dict[str, str]:
    return headers(keys, sub=LEADER, roles=["grid_leader"], areas=[GRID1])


def test_id_number_checksum() -> None:
    assert idnumbers.problem("11010519491231002X") is None  # the GB 11643 specimen
    check = idnumbers.problem("110105194912310021")
    assert check is not None
    assert (check.zh, check.en) == (
        "校验码不符（GB 11643）",
        "the check digit does not match (GB 11643)",
    )
    assert idnumbers.problem("110105194902300028") is not None  # 30 February
    assert idnumbers.problem("11010519491231002") is not None  # 17 characters
    assert idnumbers.problem("110105" + "2999" + "0101" + "0013") is not None  # shape: year
    late = id_number("11010520990101001")
    future = idnumbers.problem(late, today=date(2026, 11, 23))
    assert future is not None
    assert future.en == "the birth date inside the ID number is in the future"
    assert idnumbers.gender("11010519491231002X") == "female"
    assert idnumbers.birth_date("11010519491231002X") == date(1949, 12, 31)


async def test_registering_a_resident_checks_the_id_number(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    bad = await client.post(
        "/api/v1/residents",
        headers=worker(test_keys),
        json={"area_id": s["grid"], "name": "李四", "id_number": "110105194912310021"},
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_id_number"
    assert bad.json()["errors"][0]["field"] == "id_number"
    wrong_birth = await client.post(
        "/api/v1/residents",
        headers=worker(test_keys),
        json={
            "area_id": s["grid"],
            "name": "李四",
            "id_number": "11010519491231002X",
            "birth_on": "1950-01-01",
        },
    )
    assert wrong_birth.status_code == 422
    assert wrong_birth.json()["errors"][0]["field"] == "birth_on"
    outside = await client.post(
        "/api/v1/residents",
        headers=headers(test_keys, sub=WORKER, roles=["grid_worker"], areas=[GRID2]),
        json={"area_id": s["grid"], "name": "李四", "id_number": "11010519491231002X"},
    )
    assert outside.status_code == 403
    resident = await make_resident(client, worker(test_keys), s["grid"])
    assert (resident["gender"], resident["birth_on"]) == ("female", "1949-12-31")
    again = await client.post(
        "/api/v1/residents",
        headers=worker(test_keys),
        json={"area_id": s["grid"], "name": "张伟", "id_number": "11010519491231002x"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "resident_exists"
    count = await client.get("/api/v1/residents", headers=worker(test_keys))
    assert len(count.json()["items"]) == 1


async def test_masked_by_role_and_every_reveal_audited(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    resident = await make_resident(client, worker(test_keys), s["grid"])
    assert resident["id_number"] == "110***********002X"
    assert resident["phone"] == "138****5678"
    assert resident["revealed"] is False
    url = f"/api/v1/residents/{resident['id']}"

    # a grid worker's role may not reveal
    refused = await client.get(
        url, headers=worker(test_keys), params={"reveal": "true", "reason": "核实"}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "reveal_not_allowed"
    masked = (await client.get(url, headers=leader(test_keys))).json()
    assert masked["id_number"] == "110***********002X"
    # a grid leader may, with a reason
    no_reason = await client.get(url, headers=leader(test_keys), params={"reveal": "true"})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "query.reason"
    full = await client.get(
        url, headers=leader(test_keys), params={"reveal": "true", "reason": "办理低保复核"}
    )
    assert full.status_code == 200
    assert (full.json()["id_number"], full.json()["phone"]) == ("11010519491231002X", "13812345678")
    assert full.json()["revealed"] is True
    listed = await client.get(
        "/api/v1/residents",
        headers=leader(test_keys),
        params={"reveal": "true", "reason": "走访名单"},
    )
    assert listed.json()["items"][0]["phone"] == "13812345678"

    # masked reads leave no trace; the two revealed reads do
    audit = await client.get("/api/v1/privacy/audit-records", headers=admin())
    assert audit.status_code == 200
    records = audit.json()["items"]
    assert [(r["action"], r["reason"], r["actor_id"]) for r in records] == [
        ("reveal", "走访名单", LEADER),
        ("reveal", "办理低保复核", LEADER),
    ]
    assert records[1]["subject_ids"] == [resident["id"]]
    assert records[1]["fields"] == ["id_number", "phone"]
    by_subject = await client.get(
        "/api/v1/privacy/audit-records",
        headers=admin(),
        params={"subject_id": resident["id"], "action": "reveal"},
    )
    assert len(by_subject.json()["items"]) == 2
    not_admin = await client.get("/api/v1/privacy/audit-records", headers=leader(test_keys))
    assert not_admin.status_code == 403


async def test_audit_records_cannot_be_edited_or_deleted(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    resident = await make_resident(client, worker(test_keys), s["grid"])
    await client.get(
        f"/api/v1/residents/{resident['id']}",
        headers=leader(test_keys),
        params={"reveal": "true", "reason": "核实身份"},
    )
    for statement in (
        "UPDATE pii_audit_record SET reason = 'nothing to see'",
        "DELETE FROM pii_audit_record",
    ):
        async with app.state.engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await conn.execute(sa.text(statement))
    async with app.state.engine.connect() as conn:
        reasons = (await conn.execute(sa.text("SELECT reason FROM pii_audit_record"))).all()
    assert reasons == [("核实身份",)]


async def test_numbers_are_encrypted_at_rest_and_found_by_exact_number(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    resident = await make_resident(client, worker(test_keys), s["grid"])
    other = await make_resident(
        client,
        worker(test_keys),
        s["grid"],
        name="王五",
        id_number=id_number("33010619800101001"),
        phone="13900000000",
    )
    async with app.state.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT id_number_enc, id_number_hash, phone_enc, phone_hash "
                    "FROM resident WHERE id = :id"
                ),
                {"id": resident["id"]},
            )
        ).one()
    raw = " ".join(row)
    for secret in ("11010519491231002X", "110105", "19491231", "13812345678", "5678"):
        assert secret not in raw
    assert row.id_number_enc.startswith("dev1:")  # the key id travels with the ciphertext
    assert len(row.id_number_hash) == 64

    found = await client.post(
        "/api/v1/residents/lookup",
        headers=worker(test_keys),
        json={"id_number": "11010519491231002x"},
    )
    assert found.status_code == 200, found.text
    assert [(r["id"], r["id_number"]) for r in found.json()] == [
        (resident["id"], "110***********002X")
    ]
    by_phone = await client.post(
        "/api/v1/residents/lookup", headers=worker(test_keys), json={"phone": "13900000000"}
    )
    assert [r["id"] for r in by_phone.json()] == [other["id"]]
    none = await client.post(
        "/api/v1/residents/lookup",
        headers=worker(test_keys),
        json={"id_number": id_number("11010519491231003")},
    )
    assert none.json() == []
    revealed = await client.post(
        "/api/v1/residents/lookup",
        headers=leader(test_keys),
        params={"reveal": "true", "reason": "核实身份"},
        json={"id_number": "11010519491231002X"},
    )
    assert revealed.json()[0]["phone"] == "13812345678"
    empty = await client.post("/api/v1/residents/lookup", headers=worker(test_keys), json={})
    assert empty.status_code == 422
    elsewhere = await client.post(
        "/api/v1/residents/lookup",
        headers=headers(test_keys, sub=WORKER, roles=["grid_worker"], areas=[GRID2]),
        json={"id_number": "11010519491231002X"},
    )
    assert elsewhere.json() == []  # outside the caller's areas nothing is found


async def test_a_new_key_encrypts_and_old_values_still_read(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    old = await make_resident(client, worker(test_keys), s["grid"])
    previous = app.state.pii_cipher
    new_key = os.urandom(32)
    settings = app.state.settings
    app.state.pii_cipher = PiiCipher(
        [("k2", new_key), ("dev1", base64.b64decode(settings.pii_keys[0].key))],
        settings.pii_hash_key.encode(),
    )
    try:
        new = await make_resident(
            client,
            worker(test_keys),
            s["grid"],
            name="赵六",
            id_number=id_number("33010619900202002"),
        )
        async with app.state.engine.connect() as conn:
            kids = dict(
                (
                    await conn.execute(
                        sa.text("SELECT id::text, split_part(id_number_enc, ':', 1) FROM resident")
                    )
                ).all()
            )
        assert kids == {old["id"]: "dev1", new["id"]: "k2"}
        both = await client.get(
            "/api/v1/residents",
            headers=leader(test_keys),
            params={"reveal": "true", "reason": "核对"},
        )
        assert sorted(r["id_number"] for r in both.json()["items"]) == sorted(
            ["11010519491231002X", id_number("33010619900202002")]
        )
        # re-encrypt what the old key sealed; then the old key can go
        rotated = await client.post(
            "/api/v1/privacy/re-encryption", headers=admin(), params={"limit": 1}
        )
        assert rotated.json() == {"re_encrypted": 1, "remaining": 1, "key_id": "k2"}  # the phone
        rotated = await client.post("/api/v1/privacy/re-encryption", headers=admin())
        assert rotated.json() == {"re_encrypted": 1, "remaining": 0, "key_id": "k2"}
        app.state.pii_cipher = PiiCipher([("k2", new_key)], settings.pii_hash_key.encode())
        async with app.state.engine.connect() as conn:
            prefixes = (
                await conn.execute(
                    sa.text(
                        "SELECT DISTINCT split_part(id_number_enc, ':', 1), "
                        "split_part(phone_enc, ':', 1) FROM resident"
                    )
                )
            ).all()
        assert prefixes == [("k2", "k2")]
        read = await client.get(
            f"/api/v1/residents/{old['id']}",
            headers=leader(test_keys),
            params={"reveal": "true", "reason": "核对"},
        )
        assert (read.json()["id_number"], read.json()["phone"]) == (
            "11010519491231002X",
            "13812345678",
        )
        street_admin = await client.post(
            "/api/v1/privacy/re-encryption",
            headers=admin("330100.330106"),
        )
        assert street_admin.status_code == 403
    finally:
        app.state.pii_cipher = previous


async def test_export_is_audited_and_masked_unless_revealed(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    await make_resident(
        client,
        worker(test_keys),
        s["grid"],
        household_id=s["household"]["id"],
        relationship_to_head="head",
    )
    no_reason = await client.get("/api/v1/residents/export", headers=worker(test_keys))
    assert no_reason.status_code == 422
    exported = await client.get(
        "/api/v1/residents/export", headers=worker(test_keys), params={"reason": "季度报表"}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("姓名,公民身份号码,联系电话")
    assert lines[1].startswith("张伟,110***********002X,138****5678,女,1949-12-31")
    assert "H-301" in lines[1]
    full = await client.get(
        "/api/v1/residents/export",
        headers=leader(test_keys),
        params={"reason": "移交民政", "reveal": "true"},
    )
    assert "11010519491231002X,13812345678" in full.content.decode("utf-8-sig")
    audit = (
        await client.get(
            "/api/v1/privacy/audit-records", headers=admin(), params={"action": "export"}
        )
    ).json()["items"]
    assert [
        (r["actor_id"], r["reason"], r["row_count"], r["detail"]["revealed"]) for r in audit
    ] == [
        (LEADER, "移交民政", 1, True),
        (WORKER, "季度报表", 1, False),
    ]


def test_production_refuses_a_development_pii_key() -> None:
    from pydantic import ValidationError

    from grid_service.config import Settings

    with pytest.raises(ValidationError, match="pii_keys must be keys of your own"):
        Settings(environment="production", database_url="postgresql://db/grid")
    with pytest.raises(ValidationError, match="pii_hash_key must be set"):
        Settings(environment="production", database_url="postgresql://db/grid")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(pii_keys=[{"id": "k1", "key": base64.b64encode(b"short").decode()}])
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ValidationError, match="distinct"):
        Settings(pii_keys=[{"id": "k1", "key": key}, {"id": "k1", "key": key}])


async def test_logs_never_carry_id_or_phone_numbers(
    client: httpx.AsyncClient,
    admin: Any,
    test_keys: TestKeys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = await setup_grid(client, admin())
    caplog.set_level(logging.DEBUG)
    resident = await make_resident(client, worker(test_keys), s["grid"])
    await client.post(
        "/api/v1/residents/lookup",
        headers=worker(test_keys),
        json={"id_number": "11010519491231002X", "phone": "13812345678"},
    )
    await client.get(
        f"/api/v1/residents/{resident['id']}",
        headers=leader(test_keys),
        params={"reveal": "true", "reason": "核实"},
    )
    await client.get(
        "/api/v1/residents/export",
        headers=leader(test_keys),
        params={"reveal": "true", "reason": "报表"},
    )
    await client.post(
        "/api/v1/residents",
        headers=worker(test_keys),
        json={"area_id": s["grid"], "name": "张伟", "id_number": "11010519491231002X"},
    )  # a conflict
    await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={
            "file": (
                "s.csv",
                "姓名,公民身份号码,联系电话,楼栋\n李四,110105194912310021,13700000000,9\n".encode(),
                "text/csv",
            )
        },
    )
    logged = caplog.text
    assert "/api/v1/residents" in logged  # the requests were logged …
    for secret in ("11010519491231002X", "110105194912310021", "13812345678", "13700000000"):
        assert secret not in logged  # … without the numbers


async def test_changing_a_phone_re_encrypts_and_re_hashes_it(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    resident = await make_resident(client, worker(test_keys), s["grid"])
    changed = await client.patch(
        f"/api/v1/residents/{resident['id']}",
        headers=worker(test_keys),
        json={"phone": "13600000000", "migrant_status": "migrant"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["phone"], changed.json()["migrant_status"]) == ("136****0000", "migrant")
    old = await client.post(
        "/api/v1/residents/lookup", headers=worker(test_keys), json={"phone": "13812345678"}
    )
    new = await client.post(
        "/api/v1/residents/lookup", headers=worker(test_keys), json={"phone": "13600000000"}
    )
    assert (old.json(), [r["id"] for r in new.json()]) == ([], [resident["id"]])
    async with app.state.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT phone_enc FROM resident"))).scalar_one()
    assert "13600000000" not in stored
    bad = await client.patch(
        f"/api/v1/residents/{resident['id']}", headers=worker(test_keys), json={"phone": "abc"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "phone"
    no_id_change = await client.patch(
        f"/api/v1/residents/{resident['id']}",
        headers=worker(test_keys),
        json={"id_number": "11010519491231002X"},
    )
    assert no_id_change.status_code == 422


async def test_the_same_person_registered_twice_at_once_is_one_resident(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    body = {"area_id": s["grid"], "name": "张伟", "id_number": "11010519491231002X"}
    results = await asyncio.gather(
        *(client.post("/api/v1/residents", headers=worker(test_keys), json=body) for _ in range(3))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"resident_exists"}
