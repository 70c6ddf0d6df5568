"""`make run`: embedded PostgreSQL, migrations, demo data, the three services and the gateway
(http://127.0.0.1:8000: the console, with /api/…, /open311/…, /.well-known/… proxied to the
services as in docker-compose); Ctrl-C stops all.

The console is built first when missing or stale (scripts/console.py: npm ci from the
registry, vite build); the gateway is Debian's nginx with the compose gateway's configuration
(shared/local_gateway.py), installed with apt-get when missing and run as root. Its port is
GRIDGOV_GATEWAY_PORT (default 8000).

Set CASE_DATABASE_URL / GRID_DATABASE_URL / NOTIFY_DATABASE_URL to use your own server instead
of the embedded one (whose data folder is GRIDGOV_PG_DIR, default var/pg). Ports and other
settings come from the usual CASE_* / GRID_* / NOTIFY_* variables.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.embedded_pg import ensure_database, start_embedded
from shared.local_gateway import LocalGateway, render_local

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import console  # noqa: E402  (scripts/console.py)

GATEWAY_PORT = 8000
SERVICES = [  # (module, env prefix, port, database)
    ("grid_service", "GRID", 8002, "gridgov_grid"),
    ("case_service", "CASE", 8001, "gridgov_case"),
    ("notify_service", "NOTIFY", 8003, "gridgov_notify"),
]
DEMO_ACCOUNTS = ["admin", "dispatcher", "leader", "worker", "handler", "supervisor", "resident"]


def start_gateway(env: dict[str, str]) -> LocalGateway | None:
    """The console and the API on one origin; None (and why) when nginx cannot be had."""
    upstreams = {f"{module}": [int(env[f"{prefix}_PORT"])] for module, prefix, *_ in SERVICES}
    port = int(env.get("GRIDGOV_GATEWAY_PORT") or GATEWAY_PORT)
    try:
        gateway = render_local(ROOT / "var" / "gateway", upstreams, port=port)
        gateway.start(new_session=True)
    except RuntimeError as error:
        print(f"gateway not started: {error}", file=sys.stderr)
        return None
    return gateway


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        console.build()
    except SystemExit as error:  # no npm, or the build failed: the services still run
        print(f"{error} — the console will not be served", file=sys.stderr)
    server = None
    for module, prefix, port, database in SERVICES:
        key = f"{prefix}_DATABASE_URL"
        if not env.get(key):
            if server is None:
                pg_dir = Path(env.get("GRIDGOV_PG_DIR") or ROOT / "var" / "pg")
                print(f"starting embedded PostgreSQL in {pg_dir} …", flush=True)
                server = start_embedded(pg_dir)
            env[key] = asyncio.run(ensure_database(server, database))
        env.setdefault(f"{prefix}_PORT", str(port))
        env.setdefault(f"{prefix}_LOG_FILE", str(ROOT / "var" / "log" / f"{module}.log"))

    for step in ("migrate", "load-demo"):
        procs = [
            (module, subprocess.Popen([sys.executable, "-m", module, step], env=env, cwd=ROOT))
            for module, *_ in SERVICES
        ]
        for module, proc in procs:
            if proc.wait() != 0:
                print(f"{module} {step} failed", file=sys.stderr)
                return 1
        print(f"{step}: done", flush=True)

    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for module, *_ in SERVICES:
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", module, "serve"], env=env, cwd=ROOT, start_new_session=True
            )
        )
    gateway = start_gateway(env)
    deadline = time.monotonic() + 60
    pending = {int(env[f"{p}_PORT"]): m for m, p, *_ in SERVICES}
    while pending and time.monotonic() < deadline and not stopping:
        for port in list(pending):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    pending.pop(port)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if not stopping:
        print("\nGridgov is running:")
        for module, prefix, *_ in SERVICES:
            port = env[f"{prefix}_PORT"]
            state = "ready" if int(port) not in pending else "NOT READY (see var/log)"
            print(f"  {module:<15} http://127.0.0.1:{port}  docs: /docs  [{state}]")
        if gateway is not None:
            print(f"  console         {gateway.url}/  (the gateway: console + /api/…)")
        print("Demo accounts (password demo12345): " + ", ".join(DEMO_ACCOUNTS))
        print("Open311 demo api_key: demo-open311-key")
        print("Press Ctrl-C to stop.", flush=True)
    while not stopping:
        if any(c.poll() is not None for c in children):
            print("a service exited; stopping the others", file=sys.stderr)
            break
        if gateway is not None and gateway.poll() is not None:
            print("the gateway exited; stopping the services", file=sys.stderr)
            break
        time.sleep(0.5)
    if gateway is not None:
        gateway.stop()
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=25)
        except subprocess.TimeoutExpired:
            child.kill()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
