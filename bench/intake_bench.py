"""Intake benchmark: ``POST /api/v1/cases`` end to end against the real services, and its ceiling.

1. The ceiling: ``bench/ceiling_app.py`` (FastAPI + asyncpg, validate the body, insert one row)
   in its own scratch database, served with the services' uvicorn settings, driven by wrk with
   the same script and connections: its maximum requests per second.
2. The three services as processes (``python -m <service> serve``, production-like: JSON logs
   at INFO, relay, timer, rollup and delivery workers on), each on a fresh ``bench_intake_*``
   database with the demo dataset; a resident's token from grid_service.
3. wrk with ``bench/lua/intake.lua`` (a unique body and a random point inside the demo district
   each request, so every report is located through grid_service, inserted and given its
   outbox events): first as fast as ``--connections`` connections go (the maximum), then at a
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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import action_bench, wrk  # noqa: E402
from shared.testing import create_database, drop_database, free_port  # noqa: E402

SERVICES = {"grid": "grid_service", "case": "case_service", "notify": "notify_service"}
DEMO_BOX = "120.1005,30.2405,120.1895,30.2995"  # inside the demo district's grids
CATEGORY = "0501"


def read_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the RSS of some processes in a thread; ``peak`` per name in bytes."""

    def __init__(self, pids: dict[str, int], every: float = 0.2) -> None:
        self.pids, self.every = pids, every
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], read_rss(pid)[0])
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for name, pid in self.pids.items():  # the kernel's own peak covers what 0.2 s missed
            self.peak[name] = max(self.peak[name], read_rss(pid)[1])


@dataclass
class Proc:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.cmd, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    async def wait_ready(self, limit_s: float = 90) -> None:
        deadline = time.monotonic() + limit_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.popen is not None and self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    if (await client.get(self.url + "/readyz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready: {self.tail()}")

    def tail(self, n: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-n:])


@dataclass
class Scratch:
    """What a run created, so that ``cleanup`` removes it whatever happened."""

    procs: list[Proc] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    async def cleanup(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs.clear()
        for url in self.databases:
            try:
                await drop_database(url)
            except Exception as exc:
                print(f"  could not drop {url.rsplit('/', 1)[-1]}: {exc}", file=sys.stderr)
        self.databases.clear()


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASE_", "GRID_", "NOTIFY_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_services(scratch: Scratch, logs: Path, log_level: str = "INFO") -> dict[str, Proc]:
    """The three services with the demo dataset on fresh databases and free ports."""
    ports = {key: free_port() for key in SERVICES}
    urls = {}
    for key in SERVICES:
        urls[key] = await create_database(f"bench_intake_{key}")
        scratch.databases.append(urls[key])
    procs: dict[str, Proc] = {}
    for key, module in SERVICES.items():
        prefix = key.upper() + "_"
        env = base_env()
        for name, value in {
            "ENVIRONMENT": "test",
            "LOG_JSON": "true",
            "LOG_LEVEL": log_level,
            "DATABASE_URL": urls[key],
            "PORT": str(ports[key]),
            "JWKS_URL": f"http://127.0.0.1:{ports['grid']}/.well-known/jwks.json",
            "GRID_SERVICE_URL": f"http://127.0.0.1:{ports['grid']}",
            "NOTIFY_SERVICE_URL": f"http://127.0.0.1:{ports['notify']}",
        }.items():
            env[prefix + name] = value
        procs[key] = Proc(
            module, [sys.executable, "-m", module, "serve"], env, ports[key], logs / f"{module}.log"
        )
    for step in ("migrate", "load-demo"):
        for proc in procs.values():
            done = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                proc.name,
                step,
                env=proc.env,
                cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL,
            )
            if await done.wait() != 0:
                raise RuntimeError(f"{proc.name} {step} failed")
    for proc in procs.values():
        proc.start()
        scratch.procs.append(proc)
    await asyncio.gather(*(p.wait_ready() for p in procs.values()))
    return procs


async def start_ceiling(scratch: Scratch, logs: Path) -> Proc:
    url = await create_database("bench_ceiling")
    scratch.databases.append(url)
    port = free_port()
    proc = Proc(
        "ceiling",
        [
            sys.executable,
            str(ROOT / "bench" / "ceiling_app.py"),
            "--database-url",
            url.replace("postgresql+asyncpg://", "postgresql://"),
            "--port",
            str(port),
        ],
        base_env(),
        port,
        logs / "ceiling.log",
    )
    proc.start()
    scratch.procs.append(proc)
    await proc.wait_ready()
    return proc


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
) -> dict[str, Any]:
    """The figures of one intake run (see the module's docstring). ``py_spy``: a folder for
    py-spy profiles (``--format raw``, collapsed stacks) of case_service and grid_service
    during the maximum run."""
    logs = logs or ROOT / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    scratch = Scratch()
    out: dict[str, Any] = {"seconds": seconds, "connections": connections, "log_level": log_level}
    try:
        ceiling = await start_ceiling(scratch, logs)
        await drive(ceiling.url, connections=connections, seconds=min(5, seconds))  # warm-up
        out["ceiling"] = await drive(ceiling.url, connections=connections, seconds=seconds)
        print(f"  ceiling: {out['ceiling']['rps']:,.0f} req/s", flush=True)
        await scratch.cleanup()

        procs = await start_services(scratch, logs, log_level)
        pids = {p.name: p.popen.pid for p in procs.values() if p.popen}
        case_url = procs["case"].url
        t = await token(procs["grid"].url)
        warm = await drive(case_url, connections=4, seconds=min(5, seconds), token_=t)
        if warm["ok"] == 0:
            raise RuntimeError(
                f"no intake succeeded in the warm-up: {warm}\n{procs['case'].tail()}"
            )
        with RssSampler(pids) as rss:
            t = await token(procs["grid"].url)
            spies = await asyncio.to_thread(start_spies, py_spy, pids, seconds) if py_spy else []
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            out["max"] = await drive(case_url, connections=connections, seconds=seconds, token_=t)
            for p in spies:
                await asyncio.to_thread(p.wait, 30)
            out["cpu_ms_per_intake"] = {
                name: round(
                    1000 * (cpu_seconds(pid) - cpu_before[name]) / max(1, out["max"]["ok"]), 1
                )
                for name, pid in pids.items()
            }
            print(f"  intake max: {out['max']['rps']:,.1f} req/s", flush=True)
            rate = max(1.0, out["max"]["rps"] / 2)
            t = await token(procs["grid"].url)
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
            {
                who: await token(procs["grid"].url, who)
                for who in ("resident", "dispatcher", "worker")
            },
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
    finally:
        await scratch.cleanup()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--py-spy", type=Path, help="folder for py-spy profiles of the max run")
    args = parser.parse_args()
    result = asyncio.run(
        measure(
            seconds=args.seconds,
            connections=args.connections,
            log_level=args.log_level,
            py_spy=args.py_spy,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
