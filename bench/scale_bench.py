"""Scale figures: intake with 1 and then 2 case_service replicas behind the gateway, in one run.

For each replica count the whole system is started as production runs it, by the whole-system
tests' runner (``tests/system.py``'s ``start_system``): the gateway (Debian's nginx with the
compose gateway's configuration, least connections over the replicas) in front, PgBouncer in
transaction mode between every process and PostgreSQL, the demo dataset on fresh
``bench_scale_*`` databases, one grid_service and one notify_service. wrk
(``bench/lua/intake.lua``, as ``bench/intake_bench.py``) drives ``POST /api/v1/cases`` as fast
as ``--connections`` go, through the gateway's case_service listener — the address the other
services and the compose service name give, balanced over every replica. (The public server of
the same nginx limits each client address to 50 requests a second, ``deploy/routes.yaml``'s
``api`` class, which one load generator on loopback would measure instead of the replicas.)

For each run: successful intakes per second and p99; CPU milliseconds per intake of case_service
summed over its replicas, and of grid_service, notify_service, nginx and PgBouncer; PostgreSQL's
CPU (``/proc`` of the ``postgres`` processes: the backends of this run's databases, and the whole
server including its helpers and other work on it); and the whole machine's busy cores, which
says whether the replicas had cores left to use.

    uv run python bench/scale_bench.py [--seconds 20] [--connections 32] [--replicas 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.intake_bench import drive, log_env, token  # noqa: E402
from bench.procstat import (  # noqa: E402
    cpu_seconds,
    database_name,
    server_and_machine_cpu,
    tree_cpu_seconds,
)
from tests.system import System, start_system, stop_system  # noqa: E402


def _counters(system: System, databases: list[str]) -> dict[str, float]:
    """CPU seconds so far of every part of the running system, and of the machine."""
    out = {
        module: sum(cpu_seconds(p.proc.pid) for p in group if p.proc)
        for module, group in (
            (group[0].module, group) for group in system.replicas.values() if group
        )
    }
    if system.gateway is not None and system.gateway.proc is not None:
        out["nginx"] = tree_cpu_seconds(system.gateway.proc.pid)  # the master and its worker
    if system.pgbouncer is not None and system.pgbouncer.proc is not None:
        out["pgbouncer"] = cpu_seconds(system.pgbouncer.proc.pid)
    return {**out, **server_and_machine_cpu(databases)}


async def run_one(
    replicas: int, *, seconds: float, connections: int, logs: Path, log_level: str
) -> dict[str, Any]:
    """One system with ``replicas`` case_service processes: its maximum intake and CPU."""
    root = logs / f"scale-{replicas}"
    await asyncio.to_thread(shutil.rmtree, root, True)
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    system = await start_system(
        root,
        log_env(log_level),
        demo=True,
        replicas={"case": replicas},
        gateway=True,
        pgbouncer=True,
        database_prefix="bench_scale",
    )
    try:
        databases = [database_name(u) for u in system.database_urls.values()]
        case_url, grid_url = system.url("case"), system.url("grid")
        t = await token(grid_url)
        warm = await drive(case_url, connections=4, seconds=min(5, seconds), token_=t)
        if warm["ok"] == 0:
            raise RuntimeError(f"no intake succeeded in the warm-up: {warm}")
        t = await token(grid_url)
        before, started = _counters(system, databases), time.perf_counter()
        result = await drive(case_url, connections=connections, seconds=seconds, token_=t)
        after, wall = _counters(system, databases), time.perf_counter() - started
    finally:
        await stop_system(system)
    ok = max(1, result["ok"])
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    out: dict[str, Any] = {
        "replicas": replicas,
        "connections": connections,
        "rps": result["rps"],
        "ok": result["ok"],
        "errors": result["errors"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "wall_seconds": round(wall, 2),
        "cpu_ms_per_intake": {
            name: round(1000 * used[name] / ok, 2) for name in used if name != "machine"
        },
        "cores": {name: round(used[name] / wall, 2) for name in used},
        "wrk_cpu_share": result.get("wrk_cpu_share"),
    }
    if "postgres" not in used:
        out["postgres_note"] = "no PostgreSQL process visible on this machine"
    return out


async def measure(
    *,
    seconds: float = 20,
    connections: int = 32,
    replicas: tuple[int, ...] = (1, 2),
    logs: Path | None = None,
    log_level: str = "INFO",
) -> dict[str, Any]:
    """Each replica count in turn (see the module's docstring); ``ratio``: the throughput of
    the largest count over the smallest."""
    logs = logs or ROOT / "var" / "bench" / "logs"
    runs = []
    for n in replicas:
        run = await run_one(
            n, seconds=seconds, connections=connections, logs=logs, log_level=log_level
        )
        print(
            f"  {n} case_service replica{'s' if n > 1 else ''}: {run['rps']:,.1f} req/s, "
            f"p99 {run['p99_ms']:.0f} ms, case_service "
            f"{run['cpu_ms_per_intake'].get('case_service', 0):.1f} ms CPU per intake, "
            f"machine {run['cores']['machine']:.2f} cores busy",
            flush=True,
        )
        runs.append(run)
    low, high = runs[0], runs[-1]
    return {
        "cpus": os.cpu_count(),
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "seconds": seconds,
        "connections": connections,
        "runs": runs,
        "ratio": round(high["rps"] / low["rps"], 3) if low["rps"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--replicas", default="1,2", help="case_service replica counts, in turn")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.replicas.split(","))
    result = asyncio.run(
        measure(
            seconds=args.seconds,
            connections=args.connections,
            replicas=counts,
            log_level=args.log_level,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
