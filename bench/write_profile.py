"""Per-intake and per-action cost of case_service's write path, in process.

Runs the real app (``create_app``, its lifespan, its database migrated to head) over ASGI, with
grid_service answered by an ``httpx.MockTransport``: ``--locate in-process`` (the default) serves
the index snapshot of the point's area chain, which case_service's ``SnapshotLocator`` loads
before the run and locates from; ``--locate http`` leaves it out, so every intake asks the
mock's ``/api/v1/grids/locate`` (the same answer shape) as before issue 15's in-process locate.
It counts
for N sequential intakes, then for the five actions of an ordinary life of each case (accept,
dispatch, claim, resolve, verify):

* statements sent to PostgreSQL (``before_cursor_execute``; BEGIN/COMMIT not counted),
* Python function calls (``cProfile``),
* CPU milliseconds (``time.process_time``, the in-process client included).

These counts do not depend on the machine's load, unlike requests per second, so they compare
one change with the next on the shared machine. ``--profile FILE`` writes the cProfile stats
(``python -m pstats FILE``); ``--top N`` prints the N most expensive functions (cumulative).

    uv run --frozen python -m bench.write_profile [--intakes 200] [--top 30]
        [--locate in-process|http]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

POINT = {"lat": 30.2741, "lng": 120.1551, "crs": "gcj02"}
GRID = "330100.330106.330106001.330106001001.330106001001001"
LEVELS = ["city", "district", "street", "community", "grid"]
LIFE = ("accept", "dispatch", "claim", "resolve", "verify")


def _area(path: str) -> dict[str, Any]:
    code = path.split(".")[-1]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, path)),
        "code": code,
        "name": f"区域{code}",
        "level": LEVELS[len(path.split(".")) - 1],
        "path": path,
    }


def _snapshot() -> bytes:
    """grid_service's index snapshot of the point's area chain (each area the same box)."""
    from shared.geo.areaindex import SpatialIndex
    from shared.geo.snapshot import encode_snapshot

    box = [[120.0, 30.0], [120.4, 30.0], [120.4, 30.4], [120.0, 30.4], [120.0, 30.0]]
    parts = GRID.split(".")
    rows = []
    for i in range(len(parts)):
        a = _area(".".join(parts[: i + 1]))
        rows.append(
            (
                a["id"],
                a["code"],
                a["name"],
                a["level"],
                a["path"],
                i,
                {"type": "Polygon", "coordinates": [box]},
            )
        )
    return b"".join(encode_snapshot(SpatialIndex.build(rows, 1)))


def _grid_handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/v1/auth/token":
        return httpx.Response(
            200, json={"access_token": "svc", "token_type": "Bearer", "expires_in": 900}
        )
    if request.url.path == "/api/v1/grids/index-snapshot":
        return httpx.Response(200, content=_snapshot(), headers={"ETag": '"area-tree-1"'})
    parts = GRID.split(".")
    return httpx.Response(
        200,
        json={
            "area": _area(GRID),
            "ancestors": [_area(".".join(parts[: i + 1])) for i in range(len(parts) - 1)],
            "responsible": [],
            "lat": float(request.url.params["lat"]),
            "lng": float(request.url.params["lng"]),
        },
    )


class Counter:
    def __init__(self) -> None:
        self.statements = 0
        self.trace: list[str] | None = None

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements += 1
        if self.trace is not None:
            self.trace.append(" ".join(statement.split())[:160])


async def run(
    intakes: int,
    top: int,
    profile_out: str | None,
    workers: bool,
    trace: bool = False,
    locate: str = "in-process",
) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from case_service.categories.catalogue import load_catalogue
    from case_service.clients.grid import GridClient
    from case_service.clients.grid_index import SnapshotLocator
    from case_service.config import ALEMBIC_INI, Settings
    from case_service.main import create_app
    from shared.http import ServiceClient
    from shared.migrate import upgrade_head
    from shared.oauth import ClientCredentials
    from shared.testing import TestKeys, create_database, drop_database, install_test_keys

    url = await create_database("bench_write")
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        app = create_app(
            Settings(
                database_url=url,
                environment="test",
                relay_enabled=workers,
                timer_enabled=workers,
                webhook_enabled=False,
                reporter_erasure_enabled=False,
                http_retries=0,
                locate_in_process=False,  # the locator below, over the mock
            )
        )
        keys = TestKeys()
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            install_test_keys(app, keys)

            def client_of(name: str) -> ServiceClient:
                return ServiceClient(
                    "http://grid.test",
                    name=name,
                    retries=0,
                    transport=httpx.MockTransport(_grid_handler),
                )

            locator = None
            if locate == "in-process":
                locator = SnapshotLocator(
                    ClientCredentials(
                        client_of("grid_service_snapshot"),
                        client_id="case_service",
                        client_secret="x",  # noqa: S106
                    ),
                    check_interval=60,
                )
                assert await locator.refresh()
            app.state.grid_client = GridClient(
                client_of("grid_service"),
                credentials=ClientCredentials(
                    client_of("grid_service_auth"),
                    client_id="case_service",
                    client_secret="x",  # noqa: S106
                ),
                locator=locator,
            )
            async with app.state.sessionmaker() as session, session.begin():
                await load_catalogue(session)
            counter = Counter()
            sa.event.listen(app.state.engine.sync_engine, "before_cursor_execute", counter)
            resident = keys.mint(sub="res-1", roles=["resident"])
            dispatcher = keys.mint(
                sub="disp-1", roles=["dispatcher"], areas=[GRID.rsplit(".", 1)[0]]
            )
            worker = keys.mint(sub="worker-1", roles=["grid_worker"], areas=[GRID])
            who = {
                "accept": dispatcher,
                "dispatch": dispatcher,
                "claim": worker,
                "resolve": worker,
                "verify": dispatcher,
            }
            bodies: dict[str, Any] = {
                "dispatch": {"assignees": [{"account_id": "worker-1"}]},
                "resolve": {"result": "已更换井盖"},
            }
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

                async def intake(i: int) -> str:
                    r = await client.post(
                        "/api/v1/cases",
                        json={
                            "category_code": "0802",
                            "description": f"井盖缺失（压测 {i}）",
                            "channel": "mini_program",
                            "location": POINT,
                        },
                        headers={
                            "Authorization": f"Bearer {resident}",
                            "Idempotency-Key": uuid.uuid4().hex,
                        },
                    )
                    assert r.status_code == 201, r.text
                    return str(r.json()["id"])

                async def life(case_id: str) -> None:
                    for action in LIFE:
                        r = await client.post(
                            f"/api/v1/cases/{case_id}/actions/{action}",
                            json=bodies.get(action, {}),
                            headers={"Authorization": f"Bearer {who[action]}"},
                        )
                        assert r.status_code == 200, f"{action}: {r.text}"

                # warm-up: caches, prepared statements, the verifier's keys
                for i in range(10):
                    await life(await intake(i))

                if trace:
                    counter.trace = []
                    case_id = await intake(-1)
                    print("--- statements of one intake ---", *counter.trace, sep="\n")
                    for action in LIFE:
                        counter.trace = []
                        await client.post(
                            f"/api/v1/cases/{case_id}/actions/{action}",
                            json=bodies.get(action, {}),
                            headers={"Authorization": f"Bearer {who[action]}"},
                        )
                        print(f"--- statements of {action} ---", *counter.trace, sep="\n")
                    counter.trace = None
                results: dict[str, Any] = {}
                ids: list[str] = []
                for phase in ("intake", "actions"):
                    profiler = cProfile.Profile()
                    counter.statements = 0
                    cpu = time.process_time()
                    profiler.enable()
                    if phase == "intake":
                        for i in range(intakes):
                            ids.append(await intake(i))
                        n = intakes
                    else:
                        for case_id in ids:
                            await life(case_id)
                        n = intakes * len(LIFE)
                    profiler.disable()
                    cpu = time.process_time() - cpu
                    calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
                    results[phase] = {
                        "n": n,
                        "statements_per": round(counter.statements / n, 2),
                        "calls_per": round(calls / n),
                        "cpu_ms_per": round(1000 * cpu / n, 2),
                    }
                    if top:
                        out = io.StringIO()
                        stats = pstats.Stats(profiler, stream=out)
                        stats.sort_stats("tottime").print_stats(top)
                        print(f"--- {phase}: top {top} by own time ---")
                        print(out.getvalue()[-12000:])
                    if profile_out:
                        profiler.dump_stats(f"{profile_out}.{phase}")
        return results
    finally:
        await drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=200)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--profile", help="write cProfile stats to FILE.intake / FILE.actions")
    parser.add_argument("--workers", action="store_true", help="run the relay and timer too")
    parser.add_argument("--trace", action="store_true", help="print one intake's statements")
    parser.add_argument(
        "--locate",
        choices=["in-process", "http"],
        default="in-process",
        help="locate from the snapshot (default) or ask the mock grid_service every intake",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = asyncio.run(
        run(args.intakes, args.top, args.profile, args.workers, args.trace, args.locate)
    )
    print(f"locate: {args.locate}")
    for phase, r in results.items():
        print(
            f"{phase}: {r['n']} — statements {r['statements_per']}, "
            f"Python calls {r['calls_per']:,}, CPU {r['cpu_ms_per']} ms each"
        )


if __name__ == "__main__":
    main()
