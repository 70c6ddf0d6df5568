"""Fixtures of case_service's tests: a migrated database of its own, the app over ASGI, a fake
grid_service (httpx.MockTransport behind the app's grid client) and helpers to act as people.

The fake area tree (codes follow GB/T 2260/10114; paths are dot-joined codes)::

    330100 杭州市 › 330106 西湖区 › 330106001 北山街道 › 330106001001 社区一 › grid A / grid B
                                                       › 330106001002 社区二 › grid C
                               › 330106002 西溪街道 › 330106002001 社区三 › grid D

A point's integer latitude picks its grid (30 → A, 31 → B, 32 → C, 33 → D); 40 and above
lie outside the jurisdiction (404 ``outside_jurisdiction``); 50 makes grid_service fail (500).
The fake register of standard addresses (``ADDRESSES``) answers address matching and lookups.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from case_service.categories.catalogue import load_catalogue
from case_service.clients.grid import GridClient
from case_service.config import ALEMBIC_INI, Settings
from case_service.main import create_app
from shared.http import ServiceClient
from shared.oauth import ClientCredentials
from shared.testing import TestKeys, service_fixtures, truncate_all

STORAGE_DIR = Path(tempfile.mkdtemp(prefix="case-attachments-"))

database_url, test_keys, app, client = service_fixtures(
    prefix="test_case",
    alembic_ini=ALEMBIC_INI,
    make_app=lambda url: create_app(
        Settings(
            database_url=url,
            environment="test",
            relay_enabled=False,
            timer_enabled=False,
            webhook_enabled=False,
            reporter_erasure_enabled=False,
            storage_dir=STORAGE_DIR,
            http_retries=0,
            # tests locate through the fake grid_service below (``fake_grid``); the in-process
            # locator has tests of its own (test_snapshot_locator.py)
            locate_in_process=False,
        )
    ),
)


async def empty_tables(engine: Any) -> None:
    """Empty the tables a test wrote. TRUNCATE (``shared.testing.truncate_all``) creates new
    files for every table and index, a third of a second per test here; deleting the few rows
    is much faster. Triggers (the timeline's append-only guard, foreign keys) are switched off
    for this cleanup only, with ``session_replication_role = replica`` (superuser); without
    that right it falls back to TRUNCATE."""
    async with engine.connect() as conn:
        names = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                        " AND tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
        await conn.rollback()
        try:
            async with conn.begin():
                await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                for name in names:
                    await conn.execute(sa.table(name).delete())
        except sa.exc.DBAPIError:
            await truncate_all(engine)


@pytest_asyncio.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    """The app over ASGI; the tables written by the test are emptied afterwards."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await empty_tables(app.state.engine)


CITY = "330100"
DISTRICT = f"{CITY}.330106"
STREET1 = f"{DISTRICT}.330106001"
COMMUNITY1 = f"{STREET1}.330106001001"
GRID_A = f"{COMMUNITY1}.330106001001001"
GRID_B = f"{COMMUNITY1}.330106001001002"
COMMUNITY2 = f"{STREET1}.330106001002"
GRID_C = f"{COMMUNITY2}.330106001002001"
STREET2 = f"{DISTRICT}.330106002"
COMMUNITY3 = f"{STREET2}.330106002001"
GRID_D = f"{COMMUNITY3}.330106002001001"

GRIDS = {30: GRID_A, 31: GRID_B, 32: GRID_C, 33: GRID_D}
LEVELS = ["city", "district", "street", "community", "grid"]


def area_ref(path: str) -> dict[str, Any]:
    code = path.split(".")[-1]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, path)),
        "code": code,
        "name": f"区域{code}",
        "level": LEVELS[len(path.split(".")) - 1],
        "path": path,
    }


#: the fake register of standard addresses: id → (street address, grid). 保俶路100号 has a
#: building in grid A and one in grid C (ambiguous); "地址匹配故障" makes matching fail (500).
ADDRESSES = {
    uuid.UUID("5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12"): ("宝石山下一弄12号", GRID_A),
    uuid.UUID("5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e13"): ("保俶路100号1幢", GRID_A),
    uuid.UUID("5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e14"): ("保俶路100号2幢", GRID_C),
    uuid.UUID("5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e15"): ("灵隐路8号", GRID_D),
}
BAOSHI_12 = next(i for i, (street, _) in ADDRESSES.items() if street == "宝石山下一弄12号")
LINGYIN_8 = next(i for i, (street, _) in ADDRESSES.items() if street == "灵隐路8号")


def _placement(address_id: uuid.UUID) -> dict[str, Any]:
    street, path = ADDRESSES[address_id]
    parts = path.split(".")
    return {
        "address": {
            "id": str(address_id),
            "area_id": area_ref(path)["id"],
            "area_path": path,
            "street_address": street,
            "building_no": "1",
            "unit_no": "",
            "room_no": "",
            "created_at": "2026-11-23T12:00:00Z",
        },
        "area": area_ref(path),
        "ancestors": [area_ref(".".join(parts[: i + 1])) for i in range(len(parts) - 1)],
    }


@dataclass
class FakeGrid:
    calls: list[httpx.Request] = field(default_factory=list)

    def _match(self, request: httpx.Request) -> httpx.Response:
        import json
        import unicodedata

        assert request.headers["Authorization"] == "Bearer svc"
        body = json.loads(request.content)
        said = unicodedata.normalize("NFKC", body["address"]).replace(" ", "")
        if "地址匹配故障" in said:
            return httpx.Response(500, json={"code": "internal_error"})
        found = [
            i
            for i, (street, path) in ADDRESSES.items()
            if street.split("号")[0] + "号" in said
            and (not body.get("area_path") or path.startswith(body["area_path"]))
        ]
        grids = {ADDRESSES[i][1] for i in found}
        status = "unmatched" if not found else "matched" if len(grids) == 1 else "ambiguous"
        candidates = [
            {**_placement(i), "score": 1.0 if status == "matched" else 0.9, "method": "exact"}
            for i in found
        ]
        return httpx.Response(
            200,
            json={
                "normalized": said,
                "parsed": {"street": said, "place": "", "building": "", "unit": "", "room": ""},
                "status": status,
                "candidates": candidates,
            },
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.url.path == "/api/v1/auth/token":
            return httpx.Response(
                200, json={"access_token": "svc", "token_type": "Bearer", "expires_in": 900}
            )
        if request.url.path == "/api/v1/addresses/match":
            return self._match(request)
        if request.url.path.startswith("/api/v1/addresses/"):
            assert request.headers["Authorization"] == "Bearer svc"
            address_id = uuid.UUID(request.url.path.rsplit("/", 1)[1])
            if address_id not in ADDRESSES:
                return httpx.Response(404, json={"code": "address_not_found", "status": 404})
            return httpx.Response(200, json=_placement(address_id))
        assert request.url.path == "/api/v1/grids/locate"
        lat = float(request.url.params["lat"])
        lng = float(request.url.params["lng"])
        if lat >= 50:
            return httpx.Response(500, json={"code": "internal_error"})
        path = GRIDS.get(int(lat))
        if path is None:
            return httpx.Response(
                404,
                json={"code": "outside_jurisdiction", "status": 404, "title": "Not found"},
                headers={"content-type": "application/problem+json"},
            )
        parts = path.split(".")
        ancestors = [area_ref(".".join(parts[: i + 1])) for i in range(len(parts) - 1)]
        answer: dict[str, Any] = {"area": area_ref(path), "ancestors": ancestors}
        if request.url.params.get("view") != "compact":  # as grid_service: people only in full
            answer["responsible"] = []
        return httpx.Response(200, json={**answer, "lat": lat, "lng": lng})


@pytest.fixture
def fake_grid(app: Any) -> FakeGrid:
    fake = FakeGrid()
    app.state.grid_client = GridClient(
        ServiceClient(
            "http://grid.test",
            name="grid_service",
            retries=0,
            transport=httpx.MockTransport(fake.handler),
        ),
        credentials=ClientCredentials(
            ServiceClient(
                "http://grid.test",
                name="grid_service_auth",
                retries=0,
                transport=httpx.MockTransport(fake.handler),
            ),
            client_id="case_service",
            client_secret="x",
        ),
    )
    return fake


@dataclass(frozen=True)
class Person:
    sub: str
    roles: tuple[str, ...]
    areas: tuple[str, ...] = ()
    depts: tuple[str, ...] = ()
    cid: str | None = None


RESIDENT = Person("res-1", ("resident",))
RESIDENT2 = Person("res-2", ("resident",))
WORKER_A = Person("worker-a", ("grid_worker",), (GRID_A,))
WORKER_C = Person("worker-c", ("grid_worker",), (GRID_C,))
LEADER_A = Person("leader-a", ("grid_leader",), (GRID_A,))
LEADER_C = Person("leader-c", ("grid_leader",), (GRID_C,))
DISPATCHER_C1 = Person("disp-c1", ("dispatcher",), (COMMUNITY1,))
DISPATCHER_C2 = Person("disp-c2", ("dispatcher",), (COMMUNITY2,))
DISPATCHER_S1 = Person("disp-s1", ("dispatcher",), (STREET1,))
DISPATCHER_S2 = Person("disp-s2", ("dispatcher",), (STREET2,))
URBAN = Person("handler-urban", ("department_handler",), depts=("dept-urban",))
HOUSING = Person("handler-housing", ("department_handler",), depts=("dept-housing",))
ROADS = Person("handler-roads", ("department_handler",), depts=("dept-roads",))
SUPERVISOR_S1 = Person("sup-s1", ("supervisor",), (STREET1,))
SUPERVISOR_S2 = Person("sup-s2", ("supervisor",), (STREET2,))
ADMIN = Person("admin-1", ("admin",))
PLATFORM = Person("hotline-12345", ("platform",), cid="hotline-12345")
PLATFORM2 = Person("portal-zwfw", ("platform",), cid="portal-zwfw")


class Api:
    """Acts as a person against the app."""

    def __init__(self, client: httpx.AsyncClient, keys: TestKeys) -> None:
        self.client = client
        self.keys = keys

    def headers(self, who: Person, **extra: str) -> dict[str, str]:
        claims: dict[str, Any] = {}
        if who.cid:
            claims["cid"] = who.cid
        token = self.keys.mint(
            sub=who.sub,
            roles=list(who.roles),
            areas=list(who.areas),
            depts=list(who.depts),
            **claims,
        )
        return {"Authorization": f"Bearer {token}", **extra}

    async def report(
        self, who: Person = RESIDENT, *, expect: int | None = 201, **fields: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "category_code": "0802",
            "channel": "mini_program",
            "description": "学院路口井盖缺失，夜里很危险",
            "location": {"lat": 30.2741, "lng": 120.1551, "crs": "wgs84"},
            "reporter": {"name": "王小明", "phone": "13812345678"},
        }
        body.update(fields)
        r = await self.client.post("/api/v1/cases", json=body, headers=self.headers(who))
        if expect is not None:
            assert r.status_code == expect, r.text
        return dict(r.json())

    async def act(
        self,
        who: Person,
        case_id: str,
        action: str,
        *,
        expect: int | None = 200,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> httpx.Response:
        r = await self.client.post(
            f"/api/v1/cases/{case_id}/actions/{action}",
            json=body,
            headers={**self.headers(who), **(headers or {})},
        )
        if expect is not None:
            assert r.status_code == expect, r.text
        return r

    async def get(self, who: Person, url: str, **params: Any) -> httpx.Response:
        return await self.client.get(url, params=params, headers=self.headers(who))


_CATALOGUE: list[dict[str, Any]] = []


async def seed_catalogue(app: Any) -> None:
    """The seed catalogue: loaded through ``load_catalogue`` once, then copied in bulk (the
    tables are emptied after every test)."""
    from case_service.categories.models import Category

    table = Category.__table__  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session, session.begin():
        if _CATALOGUE:
            await session.execute(sa.insert(table), _CATALOGUE)
            return
        await load_catalogue(session)
        rows = (await session.execute(sa.select(table))).mappings().all()
        _CATALOGUE.extend(dict(r) for r in rows)


@pytest_asyncio.fixture
async def api(
    client: httpx.AsyncClient, test_keys: TestKeys, fake_grid: FakeGrid, app: Any
) -> AsyncIterator[Api]:
    await seed_catalogue(app)
    yield Api(client, test_keys)
