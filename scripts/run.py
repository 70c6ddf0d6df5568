"""`make run`: embedded PostgreSQL, migrations, demo data, the three services; Ctrl-C stops all.

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

ROOT = Path(__file__).resolve().parents[1]
SERVICES = [  # (module, env prefix, port, database)
    ("grid_service", "GRID", 8002, "gridgov_grid"),
    ("case_service", "CASE", 8001, "gridgov_case"),
    ("notify_service", "NOTIFY", 8003, "gridgov_notify"),
]
DEMO_ACCOUNTS = ["admin", "dispatcher", "leader", "worker", "handler", "supervisor", "resident"]


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
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
        print("Demo accounts (password demo12345): " + ", ".join(DEMO_ACCOUNTS))
        print("Open311 demo api_key: demo-open311-key")
        print("Press Ctrl-C to stop.", flush=True)
    while not stopping:
        if any(c.poll() is not None for c in children):
            print("a service exited; stopping the others", file=sys.stderr)
            break
        time.sleep(0.5)
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
