"""Field work across the services: a resident moving between grids is heard of by both
grids' workers in their in-app inbox (grid_service's message outbox → notify_service)."""

from __future__ import annotations

import random

import httpx

from grid_service.basicinfo.idnumbers import check_character
from tests.helpers import PASSWORD, eventually, login
from tests.system import System


async def test_both_workers_hear_of_a_move_between_grids(system: System) -> None:
    grid = system["grid"].url
    admin = await login(system, "admin")
    worker = await login(system, "worker")  # the demo's worker of the home grid
    home_path = worker.claims["areas"][0]
    async with httpx.AsyncClient(timeout=20) as client:
        grids = (
            await client.get(grid + "/api/v1/areas", params={"level": "grid", "limit": 100})
        ).json()["items"]
        home = next(g for g in grids if g["path"] == home_path)
        other = next(g for g in grids if g["path"] != home_path)
        username = f"worker-{random.randrange(10**6)}"
        r = await client.post(
            grid + "/api/v1/accounts",
            headers=admin.headers,
            json={
                "username": username,
                "name": "网格员 陈静",
                "password": PASSWORD,
                "roles": ["grid_worker"],
                "area_paths": [other["path"]],
            },
        )
        assert r.status_code == 201, r.text
        newcomer = await login(system, username)

        first17 = f"33010619900101{random.randrange(1000):03d}"
        r = await client.post(
            grid + "/api/v1/residents",
            headers=worker.headers,
            json={
                "area_id": home["id"],
                "name": "赵晓东",
                "id_number": first17 + check_character(first17),
            },
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            grid + "/api/v1/resident-transfers",
            headers=worker.headers,
            json={"resident_id": r.json()["id"], "to_area_id": other["id"], "reason": "搬家"},
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{grid}/api/v1/resident-transfers/{r.json()['id']}/complete",
            headers=newcomer.headers,
            json={},
        )
        assert r.status_code == 200, r.text

        async def inbox(who: object) -> list[tuple[str, str]]:
            r = await client.get(
                system["notify"].url + "/api/v1/inbox",
                headers=who.headers,  # type: ignore[attr-defined]
                params={"limit": 100},
            )
            assert r.status_code == 200, r.text
            return [(i["template_key"], i["body"]) for i in r.json()["items"]]

        async def heard() -> bool:
            mine = [body for key, body in await inbox(worker) if "赵*" in body]
            theirs = [key for key, body in await inbox(newcomer) if "赵*" in body]
            return (
                any("已办结" in body for body in mine)
                and "resident_transfer_asked" in theirs
                and "resident_transfer_decided" in theirs
            )

        await eventually(heard, what="both workers' inbox items of the move")
