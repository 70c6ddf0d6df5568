"""Intake benchmark: ``POST /api/v1/cases`` end to end against the real services, and its ceiling.

1. The ceiling: ``bench/ceiling_app.py`` (FastAPI + asyncpg, validate the body, insert one row)
   in its own scratch database, served with the services' uvicorn settings, driven by wrk with
   the same script and connections: its maximum requests per second.
2. The three services as processes (``python -m <service> serve``, production-like: JSON logs
   at INFO, relay, timer, rollup and delivery workers on), each on a fresh ``bench_intake_*``
   database with the demo dataset, started by the whole-system tests' runner
   (``tests/system.py``'s ``start_system``); a resident's token from grid_service.
3. wrk with ``bench/lua/intake.lua`` (a unique body and a random point inside the demo district
   each request, so every report is located — in process from case_service's copy of
   grid_service's index, or with ``--locate http`` through grid_service — inserted and given
   its outbox events): first as fast as ``--connections`` connections go (the maximum), then at a
   fixed offered load of half that maximum (``delay()`` keeps each thread to its schedule):
   achieved rate, p50 and p99.
4. CPU milliseconds each service spends per intake during the maximum run
   (``/proc/<pid>/stat``), which says where the time goes.
5. Peak RSS of each service process during the load (``/proc/<pid>/status``, sampled every
   0.2 s, and the kernel's high-water mark ``VmHWM``).
6. Lifecycle actions per second (accept, dispatch, claim, resolve, verify) on the same
   services, and their ratio to the same ceiling (``bench/action_bench.py``).

Scratch databases and processes are removed at the end, also on failure or Ctrl-C.

    uv run python bench/intake_bench.py [--seconds 20] [--connections 32]
        [--locate in-process|http]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import action_bench, wrk  # noqa: E402
from bench.procstat import (  # noqa: E402
    RssSampler,
    cpu_seconds,
    database_name,
    server_and_machine_cpu,
)
from shared.testing import create_database, drop_database, free_port  # noqa: E402
from tests.system import ServiceProcess, System, start_system, stop_system  # noqa: E402

DEMO_BOX = "120.1005,30.2405,120.1895,30.2995"  # inside the demo district's grids
CATEGORY = "0501"


LOG_PREFIXES = ("CASE", "GRID", "NOTIFY")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASE_", "GRID_", "NOTIFY_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def log_env(log_level: str) -> dict[str, str]:
    """The services' log level (JSON logs at INFO by default, as in production)."""
    return {f"{prefix}_LOG_LEVEL": log_level for prefix in LOG_PREFIXES}


async def start_services(
    logs: Path, log_level: str = "INFO", env: dict[str, str] | None = None, **options: Any
) -> System:
    """The three services with the demo dataset on fresh ``bench_*`` databases and free ports,
    started by the whole-system tests' runner (``tests/system.py``; ``options`` are its own:
    ``replicas``, ``gateway``, ``pgbouncer``); ``env``: more settings of the services. Stop
    with ``stop_system``."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    return await start_system(
        logs,
        {**log_env(log_level), **(env or {})},
        demo=True,
        database_prefix="bench_intake",
        **options,
    )


async def start_ceiling(logs: Path) -> tuple[ServiceProcess, str]:
    """``bench/ceiling_app.py`` on a scratch database: the process (started, ready) and the
    database's URL (drop it after stopping the process)."""
    url = await create_database("bench_ceiling")
    port = free_port()
    proc = ServiceProcess(
        "ceiling",
        "ceiling_app",
        port,
        base_env(),
        logs / "ceiling.log",
        argv=[
            sys.executable,
            str(ROOT / "bench" / "ceiling_app.py"),
            "--database-url",
            url.replace("postgresql+asyncpg://", "postgresql://"),
            "--port",
            str(port),
        ],
    )
    try:
        proc.start()
        await proc.wait_ready(90)
    except BaseException:
        await asyncio.to_thread(proc.stop)
        await drop_database(url)
        raise
    return proc, url


class _Whole:
    """CPU counters of a run from its start: each named process, PostgreSQL's backends of the
    run's databases (``postgres``) and the whole server (``postgres_server``) when it runs on
    this machine, and every core of the machine (``machine``: all processes, wrk included)."""

    def __init__(self, databases: list[str], pids: dict[str, int]) -> None:
        self.databases, self.pids = databases, pids
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        own = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**own, **server_and_machine_cpu(self.databases)}

    def per(self, done: int) -> dict[str, float]:
        """Milliseconds of CPU per completed request since the start, by counter."""
        after = self._now()
        return {
            name: round(1000 * (after[name] - self.before.get(name, 0.0)) / max(1, done), 2)
            for name in after
        }


async def token(grid_url: str, username: str = "resident") -> str:
    async with httpx.AsyncClient(base_url=grid_url, timeout=30) as client:
        r = await client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": "demo12345"},
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


def start_spies(
    folder: Path, pids: dict[str, int], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy (in uv.lock) recording case_service and grid_service for ``seconds``."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pids[name]),
                "--rate",
                "200",
                "--duration",
                str(int(seconds)),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(folder / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("case_service", "grid_service")
    ]


async def drive(
    url: str, *, connections: int, seconds: float, rate: float = 0, token_: str = ""
) -> dict[str, Any]:
    env = {
        "BENCH_BOX": DEMO_BOX,
        "BENCH_CATEGORY": CATEGORY,
        "BENCH_RATE": str(rate),
        "BENCH_TOKEN": token_,
    }
    return await asyncio.to_thread(
        wrk.run_measured, url, "intake.lua", connections=connections, seconds=seconds, env=env
    )


async def measure(
    *,
    seconds: float = 20,
    connections: int = 32,
    logs: Path | None = None,
    log_level: str = "INFO",
    py_spy: Path | None = None,
    locate: str = "in-process",
) -> dict[str, Any]:
    """The figures of one intake run (see the module's docstring). ``py_spy``: a folder for
    py-spy profiles (``--format raw``, collapsed stacks) of case_service and grid_service
    during the maximum run. ``locate``: ``in-process`` (case_service's default: from its copy
    of grid_service's index) or ``http`` (``CASE_LOCATE_IN_PROCESS=false``: every intake asks
    grid_service)."""
    logs = logs or ROOT / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "seconds": seconds,
        "connections": connections,
        "log_level": log_level,
        "locate": locate,
    }
    ceiling, ceiling_db = await start_ceiling(logs)
    try:
        await drive(ceiling.url, connections=connections, seconds=min(5, seconds))  # warm-up
        whole = _Whole(
            [database_name(ceiling_db)], {"ceiling": ceiling.proc.pid} if ceiling.proc else {}
        )
        out["ceiling"] = await drive(ceiling.url, connections=connections, seconds=seconds)
        out["ceiling"]["cpu_ms_per_request"] = whole.per(out["ceiling"]["ok"])
        print(f"  ceiling: {out['ceiling']['rps']:,.0f} req/s", flush=True)
    finally:
        await asyncio.to_thread(ceiling.stop)
        await drop_database(ceiling_db)

    env = {"CASE_LOCATE_IN_PROCESS": "false"} if locate == "http" else {}
    # the log files are appended to run after run: count this run's lines only
    out["started_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    system = await start_services(logs, log_level, env)
    try:
        await _measure_services(
            system, out, seconds=seconds, connections=connections, py_spy=py_spy
        )
    finally:
        await stop_system(system)
    return out


async def _measure_services(
    system: System,
    out: dict[str, Any],
    *,
    seconds: float,
    connections: int,
    py_spy: Path | None = None,
) -> None:
    """Steps 3 to 6 of the module's docstring on one process per service."""
    pids = {p.module: p.proc.pid for p in system.processes() if p.proc}
    case_url, grid_url = system.url("case"), system.url("grid")
    t = await token(grid_url)
    warm = await drive(case_url, connections=4, seconds=min(5, seconds), token_=t)
    if warm["ok"] == 0:
        raise RuntimeError(f"no intake succeeded in the warm-up: {warm}\n{system['case'].tail()}")
    out["locate_snapshots_loaded"] = sum(
        1
        for e in system["case"].log_lines()
        if e.get("event") == "locate_snapshot_loaded"
        and str(e.get("timestamp", "")) >= out["started_at"]
    )
    with RssSampler(pids) as rss:
        t = await token(grid_url)
        spies = await asyncio.to_thread(start_spies, py_spy, pids, seconds) if py_spy else []
        whole = _Whole([database_name(u) for u in system.database_urls.values()], pids)
        out["max"] = await drive(case_url, connections=connections, seconds=seconds, token_=t)
        for spy in spies:
            await asyncio.to_thread(spy.wait, 30)
        out["cpu_ms_per_intake"] = whole.per(out["max"]["ok"])
        print(f"  intake max: {out['max']['rps']:,.1f} req/s", flush=True)
        rate = max(1.0, out["max"]["rps"] / 2)
        t = await token(grid_url)
        out["half"] = await drive(
            case_url, connections=connections, seconds=2 * seconds, rate=rate, token_=t
        )
        out["half"]["offered_rps"] = round(rate, 1)
        print(
            f"  intake at {rate:,.1f} req/s offered: {out['half']['rps']:,.1f} achieved, "
            f"p50 {out['half']['p50_ms']:.1f} ms, p99 {out['half']['p99_ms']:.1f} ms",
            flush=True,
        )
    out["rss_bytes"] = dict(rss.peak)
    out["ratio"] = round(out["max"]["rps"] / out["ceiling"]["rps"], 3)
    case_pid = pids["case_service"]
    out["actions"] = await action_bench.measure(
        case_url,
        {who: await token(grid_url, who) for who in ("resident", "dispatcher", "worker")},
        cases=max(50, int(20 * seconds)),
        connections=min(16, connections),
        cpu=lambda: cpu_seconds(case_pid),
    )
    out["actions"]["ratio"] = round(out["actions"]["aps"] / out["ceiling"]["rps"], 3)
    print(
        f"  actions: {out['actions']['aps']:,.1f} actions/s "
        f"({out['actions']['case_cpu_ms_per_action']} ms case_service CPU per action)",
        flush=True,
    )
    async with httpx.AsyncClient(base_url=case_url, timeout=30) as client:
        metrics = (await client.get("/metrics")).text
    out["case_service_metrics_bytes"] = len(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--py-spy", type=Path, help="folder for py-spy profiles of the max run")
    parser.add_argument(
        "--locate",
        choices=["in-process", "http"],
        default="in-process",
        help="case_service locates from its snapshot (default) or asks grid_service each time",
    )
    args = parser.parse_args()
    result = asyncio.run(
        measure(
            seconds=args.seconds,
            connections=args.connections,
            log_level=args.log_level,
            py_spy=args.py_spy,
            locate=args.locate,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
