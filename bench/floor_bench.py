"""The floor of a case_service request: CPU per request of its cheapest answers, on the same
process and settings as the intake benchmark, to say how much of an intake's CPU is the stack
under every request and how much is the intake's own.

Three requests as fast as ``--connections`` go (wrk, ``bench/lua/get.lua``), each with the CPU
milliseconds case_service spends per request (``/proc/<pid>/stat``):

* ``GET /healthz`` — uvicorn, FastAPI's routing and our middleware (access log, limits, the
  request id), no token, no database;
* ``GET /api/v1/categories?limit=1`` as a resident — the token checked (the remembered verify,
  the revocation check) and one read in a transaction;
* ``GET /api/v1/cases/{id}`` as the resident who filed it — the same plus the case read,
  the access rule and the presenter (the case as the API shows it).

    uv run python bench/floor_bench.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
from bench.intake_bench import start_services, start_spies, token  # noqa: E402
from bench.procstat import cpu_seconds  # noqa: E402
from tests.helpers import report_body  # noqa: E402
from tests.system import stop_system  # noqa: E402


async def _one_case(case_url: str, token_: str) -> str:
    async with httpx.AsyncClient(base_url=case_url, timeout=30) as client:
        r = await client.post(
            "/api/v1/cases",
            json=report_body(description="井盖缺失（请求底线压测）"),
            headers={"Authorization": f"Bearer {token_}", "Idempotency-Key": uuid.uuid4().hex},
        )
        r.raise_for_status()
        return str(r.json()["id"])


async def measure(
    *, seconds: float = 10, connections: int = 32, py_spy: Path | None = None
) -> dict[str, Any]:
    """The figures (see the module's docstring); ``py_spy``: a folder for py-spy profiles of
    each request kind (``<folder>/<n>/case_service.txt``, collapsed stacks)."""
    logs = ROOT / "var" / "bench" / "logs" / "floor"
    system = await start_services(logs)
    out: dict[str, Any] = {"seconds": seconds, "connections": connections, "requests": {}}
    try:
        case_url, grid_url = system.url("case"), system.url("grid")
        pids = {p.module: p.proc.pid for p in system.processes() if p.proc}
        pid = pids["case_service"]
        t = await token(grid_url)
        case_id = await _one_case(case_url, t)
        paths = {
            "healthz": ("/healthz", ""),
            "categories (token + one read)": ("/api/v1/categories?limit=1", t),
            "case read (token, case, access, presenter)": (f"/api/v1/cases/{case_id}", t),
        }
        for n, (name, (path, bearer)) in enumerate(paths.items()):
            env = {"BENCH_PATH": path, "BENCH_TOKEN": bearer}
            await asyncio.to_thread(  # warm-up
                wrk.run, case_url, "get.lua", connections=4, seconds=2, env=env
            )
            spies = (
                await asyncio.to_thread(start_spies, py_spy / str(n), pids, seconds)
                if py_spy
                else []
            )
            before = cpu_seconds(pid)
            result = await asyncio.to_thread(
                wrk.run, case_url, "get.lua", connections=connections, seconds=seconds, env=env
            )
            for spy in spies:
                await asyncio.to_thread(spy.wait, 30)
            used = cpu_seconds(pid) - before
            result["case_cpu_ms_per_request"] = round(1000 * used / max(1, result["ok"]), 3)
            out["requests"][name] = result
            print(
                f"  {name}: {result['rps']:,.0f} req/s, "
                f"{result['case_cpu_ms_per_request']} ms case_service CPU per request"
                f" ({result['errors_status']} non-2xx)",
                flush=True,
            )
    finally:
        await stop_system(system)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--py-spy", type=Path, help="folder for py-spy profiles of each request")
    args = parser.parse_args()
    result = asyncio.run(
        measure(seconds=args.seconds, connections=args.connections, py_spy=args.py_spy)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
