"""Point-location benchmark of grid_service on 50,000 generated grids.

1. In process: the STRtree index (``grid_service.locate.index.SpatialIndex``) over a generated
   tree — city → district → 10 streets → 100 communities → 50,000 grids (rectangles of about
   50 m × 60 m) — answering random points: lookups per second and latency percentiles.
2. Over HTTP: the same tree in a fresh database on the PostgreSQL the tests use
   (127.0.0.1:5432 or TEST_DATABASE_URL), ``python -m grid_service serve`` (uvicorn, one
   worker) on a free loopback port, and a bounded number of ``GET /api/v1/grids/locate``
   requests from concurrent clients: requests per second, latency percentiles, and the CPU
   milliseconds grid_service spends per request (``/proc/<pid>/stat``; the client shares the
   machine, so this is the figure that says what a locate costs). The answer comes from the
   replica's snapshot (no database); ``--view compact`` asks for the answer without who answers
   for the grid (what case_service's intake asks for), ``--log-level INFO`` runs with the
   production log level (the locate routes' ordinary answers are logged at DEBUG).

    uv run python bench/locate_bench.py [--lookups 200000] [--requests 5000] [--concurrency 32]
        [--view full|compact] [--log-level WARNING]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the bench and tests packages
    sys.path.insert(0, str(ROOT))

from grid_service.areas.geometry import measure, parse_boundary  # noqa: E402
from grid_service.config import ALEMBIC_INI  # noqa: E402
from grid_service.locate.index import SpatialIndex  # noqa: E402
from shared.contracts.grids import LocateResult  # noqa: E402
from shared.migrate import upgrade_head  # noqa: E402
from shared.testing import create_database, drop_database, free_port  # noqa: E402

WEST, SOUTH, EAST, NORTH = 120.00, 30.20, 120.20, 30.30
STREETS, COMMUNITIES, GRID_COLS, GRID_ROWS = 10, 10, 20, 25  # 10 × 10 × 500 = 50,000 grids


def rectangle(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def generate() -> list[dict[str, Any]]:
    """Rows of the tree, parents first."""
    rows: list[dict[str, Any]] = []

    def add(
        code: str, level: str, parent: dict[str, Any] | None, box: tuple[float, ...]
    ) -> dict[str, Any]:
        row = {
            "id": uuid.uuid4(),
            "code": code,
            "name": f"{level} {code}",
            "level": level,
            "parent_id": parent["id"] if parent else None,
            "path": f"{parent['path']}.{code}" if parent else code,
            "depth": parent["depth"] + 1 if parent else 0,
            "boundary": rectangle(*box),
        }
        rows.append(row)
        return row

    city = add("330100", "city", None, (119.9, 30.1, 120.3, 30.4))
    district = add("330106", "district", city, (WEST, SOUTH, EAST, NORTH))
    street_w = (EAST - WEST) / STREETS
    for s in range(STREETS):
        sw, se = WEST + s * street_w, WEST + (s + 1) * street_w
        street = add(f"330106{s + 1:03d}", "street", district, (sw, SOUTH, se, NORTH))
        comm_h = (NORTH - SOUTH) / COMMUNITIES
        for c in range(COMMUNITIES):
            cs, cn = SOUTH + c * comm_h, SOUTH + (c + 1) * comm_h
            community = add(f"{street['code']}{c + 1:03d}", "community", street, (sw, cs, se, cn))
            gw, gh = (se - sw) / GRID_COLS, (cn - cs) / GRID_ROWS
            for r in range(GRID_ROWS):
                for g in range(GRID_COLS):
                    box = (sw + g * gw, cs + r * gh, sw + (g + 1) * gw, cs + (r + 1) * gh)
                    add(f"{community['code']}{r * GRID_COLS + g + 1:03d}", "grid", community, box)
    return rows


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def random_points(
    n: int, seed: int, box: tuple[float, float, float, float] = (WEST, SOUTH, EAST, NORTH)
) -> list[tuple[float, float]]:
    west, south, east, north = box
    rnd = random.Random(seed)
    return [(rnd.uniform(south, north), rnd.uniform(west, east)) for _ in range(n)]


def city_rows(city: Any) -> list[dict[str, Any]]:
    """The rows of a ``bench.city.City``'s area tree, as ``generate()`` makes them."""
    return [
        {
            "id": a.id,
            "code": a.code,
            "name": a.name,
            "level": a.level,
            "parent_id": a.parent_id,
            "path": a.path,
            "depth": a.depth,
            "boundary": a.boundary,
        }
        for a in city.areas
    ]


def bench_in_process(
    rows: list[dict[str, Any]],
    lookups: int,
    box: tuple[float, float, float, float] = (WEST, SOUTH, EAST, NORTH),
) -> dict[str, float]:
    started = time.perf_counter()
    index = SpatialIndex.build(
        [
            (r["id"], r["code"], r["name"], r["level"], r["path"], r["depth"], r["boundary"])
            for r in rows
        ],
        version=1,
    )
    build_s = time.perf_counter() - started
    points = random_points(lookups, seed=1, box=box)
    for lat, lng in points[:1000]:  # warm up
        index.locate(lat, lng)
    timings: list[float] = []
    clock = time.perf_counter_ns
    found = 0
    t0 = time.perf_counter()
    for lat, lng in points:
        a = clock()
        hit = index.locate(lat, lng)
        timings.append((clock() - a) / 1000)
        found += hit is not None and hit.ref.level == "grid"
    total = time.perf_counter() - t0
    assert found == lookups, f"only {found} of {lookups} points found a grid"
    # the whole in-process answer: the grid, its ancestors and the LocateResult built
    full: list[float] = []
    for lat, lng in points[: min(lookups, 50_000)]:
        a = clock()
        hit = index.locate(lat, lng)
        assert hit is not None
        LocateResult(area=hit.ref, ancestors=index.ancestors(hit), responsible=[], lat=lat, lng=lng)
        full.append((clock() - a) / 1000)
    return {
        "full_p50_us": percentile(full, 50),
        "full_p99_us": percentile(full, 99),
        "areas": len(index),
        "build_seconds": build_s,
        "lookups_per_second": lookups / total,
        "p50_us": percentile(timings, 50),
        "p99_us": percentile(timings, 99),
        "max_us": max(timings),
    }


async def load_database(url: str, rows: list[dict[str, Any]]) -> None:
    import asyncpg

    measured = [measure(parse_boundary(r["boundary"])) for r in rows]
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.executemany(
            "INSERT INTO area (id, code, name, level, parent_id, path, depth, boundary, area_m2,"
            " centroid_lat, centroid_lng, household_count, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, 700, now(), now())",
            [
                (
                    r["id"],
                    r["code"],
                    r["name"],
                    r["level"],
                    r["parent_id"],
                    r["path"],
                    r["depth"],
                    json.dumps(r["boundary"]),
                    m.area_m2,
                    m.centroid_lat,
                    m.centroid_lng,
                )
                for r, m in zip(rows, measured, strict=True)
            ],
        )
        await conn.execute(
            "INSERT INTO area_tree_version (id, version, updated_at) VALUES (1, 1, now())"
        )
    finally:
        await conn.close()


async def bench_http(
    rows: list[dict[str, Any]],
    requests: int,
    concurrency: int,
    *,
    view: str = "full",
    log_level: str = "WARNING",
) -> dict[str, float]:
    from bench.intake_bench import base_env
    from bench.procstat import cpu_seconds
    from tests.system import ServiceProcess

    url = await create_database("bench_grid")
    proc = None
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        await load_database(url, rows)
        port = free_port()
        logs = ROOT / "var" / "bench" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = base_env() | {
            "GRID_DATABASE_URL": url,
            "GRID_ENVIRONMENT": "test",
            "GRID_LOG_LEVEL": log_level,
            "GRID_LOG_JSON": "true",
            "GRID_DB_POOL_SIZE": str(concurrency),
            "GRID_PORT": str(port),
        }
        proc = ServiceProcess("grid", "grid_service", port, env, logs / "grid_service-http.log")
        proc.start()
        await proc.wait_ready(90)
        points = random_points(requests, seed=2)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as client:
            t = time.perf_counter()
            first = await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.1})
            assert first.status_code == 200, first.text
            warmup_s = time.perf_counter() - t
            latencies: list[float] = []
            queue = iter(points)

            async def worker() -> None:
                for lat, lng in queue:
                    a = time.perf_counter()
                    response = await client.get(
                        "/api/v1/grids/locate", params={"lat": lat, "lng": lng, "view": view}
                    )
                    latencies.append((time.perf_counter() - a) * 1000)
                    assert response.status_code == 200, response.text

            assert proc.proc is not None
            cpu_before = cpu_seconds(proc.proc.pid)
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            total = time.perf_counter() - t0
            cpu = cpu_seconds(proc.proc.pid) - cpu_before
        return {
            "view": view,
            "log_level": log_level,
            "grid_cpu_ms_per_request": 1000 * cpu / requests,
            "first_request_seconds": warmup_s,
            "requests": requests,
            "concurrency": concurrency,
            "requests_per_second": requests / total,
            "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 99),
        }
    finally:
        if proc is not None:
            await asyncio.to_thread(proc.stop)
        await drop_database(url)


async def bench_http_wrk(
    database_url: str,
    box: tuple[float, float, float, float],
    *,
    seconds: float = 15,
    connections: int = 32,
) -> dict[str, Any]:
    """grid_service serving an already loaded database, driven by wrk (``bench/lua/locate.lua``,
    random points in ``box``): requests per second, p50/p99, and the process's peak RSS."""
    from bench import wrk
    from bench.intake_bench import base_env
    from bench.procstat import RssSampler
    from tests.system import ServiceProcess

    port = free_port()
    logs = ROOT / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / "grid_service-locate.log"
    env = base_env() | {
        "GRID_DATABASE_URL": database_url,
        "GRID_ENVIRONMENT": "test",
        "GRID_LOG_JSON": "true",
        "GRID_LOG_LEVEL": "INFO",
        "GRID_LOG_FILE": str(log_file),
        "GRID_PORT": str(port),
    }
    # the whole-system tests' process runner, on the city's database (not one of its own)
    proc = ServiceProcess("grid", "grid_service", port, env, log_file)
    proc.start()
    try:
        await proc.wait_ready(90)
        async with httpx.AsyncClient(base_url=proc.url, timeout=120) as client:
            t = time.perf_counter()
            first = await client.get(
                "/api/v1/grids/locate",
                params={"lat": (box[1] + box[3]) / 2, "lng": (box[0] + box[2]) / 2},
            )
            assert first.status_code == 200, first.text
            first_s = time.perf_counter() - t
        env_box = {"BENCH_BOX": ",".join(str(v) for v in box)}
        assert proc.proc is not None
        with RssSampler({"grid_service": proc.proc.pid}) as rss:
            result = await asyncio.to_thread(
                wrk.run_measured,
                proc.url,
                "locate.lua",
                connections=connections,
                seconds=seconds,
                env=env_box,
            )
        result["first_request_seconds"] = round(first_s, 2)
        result["rss_bytes"] = rss.peak["grid_service"]
        return result
    finally:
        await asyncio.to_thread(proc.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--view", choices=("full", "compact"), default="full")
    parser.add_argument("--log-level", default="WARNING", help="grid_service's GRID_LOG_LEVEL")
    args = parser.parse_args()
    rows = generate()
    grids = sum(r["level"] == "grid" for r in rows)
    print(f"generated {grids:,} grids ({len(rows):,} areas)")
    local = bench_in_process(rows, args.lookups)
    print(
        f"in-process: index of {local['areas']:,} areas built in {local['build_seconds']:.2f} s; "
        f"{local['lookups_per_second']:,.0f} lookups/s; p50 {local['p50_us']:.1f} µs, "
        f"p99 {local['p99_us']:.1f} µs, max {local['max_us']:.0f} µs "
        f"(target p99 < 1000 µs: {'met' if local['p99_us'] < 1000 else 'MISSED'}); "
        f"with ancestors and the LocateResult: p50 {local['full_p50_us']:.1f} µs, "
        f"p99 {local['full_p99_us']:.1f} µs"
    )
    if args.skip_http:
        return
    remote = asyncio.run(
        bench_http(rows, args.requests, args.concurrency, view=args.view, log_level=args.log_level)
    )
    print(
        f"HTTP (view={remote['view']}, log level {remote['log_level']}): first request "
        f"{remote['first_request_seconds']:.2f} s; "
        f"{remote['requests']:,} requests, {remote['concurrency']} concurrent: "
        f"{remote['requests_per_second']:,.0f} req/s; p50 {remote['p50_ms']:.1f} ms, "
        f"p99 {remote['p99_ms']:.1f} ms; grid_service CPU "
        f"{remote['grid_cpu_ms_per_request']:.2f} ms per request"
    )


if __name__ == "__main__":
    main()
