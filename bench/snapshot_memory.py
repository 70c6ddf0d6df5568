"""Memory of case_service's in-process locate with the 30,000-grid city (issue 15).

1. Generates the benchmark city's area tree (``bench/city.py``, 30,000 grids, 33,317 areas),
   builds grid_service's index from it the way its locator does (GeoJSON text parsed by GEOS)
   and writes the index snapshot (``GET /api/v1/grids/index-snapshot``'s body, the same
   ``encode_snapshot``) to a temporary file: its size and the time to write it.
2. In a fresh process, as a case_service replica: imports the service and builds its app
   (``create_app``) — the RSS before any snapshot — then a ``SnapshotLocator`` loads the
   snapshot through its real code path (HTTP body, built off the loop, freed memory returned),
   served by an ``httpx.MockTransport``; then loads it again as a new version (the rebuild
   while the old copy still answers). RSS (VmRSS) and peak (VmHWM) from ``/proc/self/status``
   after each step, the load times, and the in-process locate's latency on random points.

    uv run --frozen python bench/snapshot_memory.py [--seed 7] [--lookups 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def status_mb() -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def write_snapshot(seed: int, target: Path) -> dict[str, Any]:
    from bench.city import Shape, generate
    from shared.geo.areaindex import SpatialIndex
    from shared.geo.snapshot import encode_snapshot

    city = generate(seed, Shape.quick())
    rows = [
        (a.id, a.code, a.name, a.level, a.path, a.depth, json.dumps(a.boundary)) for a in city.areas
    ]
    index = SpatialIndex.build(rows, 1)
    started = time.perf_counter()
    with target.open("wb") as f:
        for block in encode_snapshot(index):
            f.write(block)
    west, south, east, north = city.extent()
    return {
        "areas": len(index),
        "grids": len(city.grids),
        "snapshot_mb": round(target.stat().st_size / 1e6, 1),
        "encode_seconds": round(time.perf_counter() - started, 2),
        "extent": [west, south, east, north],
    }


async def replica(path: Path, extent: list[float], lookups: int) -> dict[str, Any]:
    import httpx

    from case_service.clients.grid_index import SNAPSHOT_PATH, SnapshotLocator
    from case_service.config import Settings
    from case_service.main import create_app
    from shared.contracts.grids import CoordinateSystem
    from shared.http import ServiceClient
    from shared.oauth import ClientCredentials

    create_app(Settings(environment="test", locate_in_process=False))
    out: dict[str, Any] = {"after_create_app": status_mb()}
    with path.open("rb") as f:
        header = json.loads(f.readline())
    versions = iter([header["version"], header["version"] + 1])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            return httpx.Response(
                200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 900}
            )
        assert request.url.path == SNAPSHOT_PATH
        version = next(versions)
        content = path.read_bytes().replace(
            f'"version": {header["version"]},'.encode(), f'"version": {version},'.encode(), 1
        )
        return httpx.Response(200, content=content, headers={"ETag": f'"area-tree-{version}"'})

    locator = SnapshotLocator(
        ClientCredentials(
            ServiceClient(
                "http://grid.test", name="s", retries=0, transport=httpx.MockTransport(handler)
            ),
            client_id="case_service",
            client_secret="x",  # noqa: S106
        ),
        check_interval=60,
    )
    for step in ("first_load", "reload"):
        started = time.perf_counter()
        assert await locator.refresh()
        out[step] = {**status_mb(), "seconds": round(time.perf_counter() - started, 2)}
    west, south, east, north = extent
    rng = random.Random(1)
    times: list[float] = []
    found = 0
    for _ in range(lookups):
        lat, lng = rng.uniform(south, north), rng.uniform(west, east)
        t = time.perf_counter()
        answer = locator.locate(lat=lat, lng=lng, crs=CoordinateSystem.wgs84)
        times.append(time.perf_counter() - t)
        found += answer is not None
    times.sort()
    out["locate_us"] = {
        "p50": round(1e6 * statistics.median(times), 1),
        "p99": round(1e6 * times[int(0.99 * len(times))], 1),
        "found_share": round(found / lookups, 3),
    }
    out["areas"] = len(locator.index or [])
    out["after_lookups"] = status_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--extent", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(replica(Path(args.child), json.loads(args.extent), args.lookups))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "snapshot.ndjson"
        made = write_snapshot(args.seed, target)
        print("snapshot:", json.dumps(made))
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(target),
                "--extent",
                json.dumps(made["extent"]),
                "--lookups",
                str(args.lookups),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print("case_service replica:", json.dumps(result, indent=1))
    base = result["after_create_app"]["VmRSS"]
    loaded = result["first_load"]["VmRSS"]
    peak = max(result["first_load"]["VmHWM"], result["reload"]["VmHWM"])
    print(
        f"RSS after create_app {base} MB; with the snapshot of {made['grids']:,} grids "
        f"{loaded} MB (+{round(loaded - base, 1)}); peak over load and reload {peak} MB"
    )


if __name__ == "__main__":
    main()
