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

`make run REPLICAS=2` (GRIDGOV_REPLICAS): two processes of each service, as in production, all
on the same database and each with its background workers; the replicas listen on other ports
(the service's port + 100, + 200, …: 8101 and 8201 for case_service) and the gateway answers the
contract's ports 8001, 8002, 8003 (every path, balanced over the replicas with least
connections, as a compose service name or a Kubernetes Service does) besides the console's 8000,
so that clients and the services themselves see no difference.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


def replica_ports(env: dict[str, str], replicas: int) -> dict[str, list[int]]:
    """The ports of each service's processes: its own port with one replica, else its port
    + 100, + 200, … (the gateway then answers on its port)."""
    out = {}
    for module, prefix, *_ in SERVICES:
        port = int(env[f"{prefix}_PORT"])
        out[module] = [port] if replicas == 1 else [port + 100 * (i + 1) for i in range(replicas)]
    return out


def start_gateway(
    env: dict[str, str], ports: dict[str, list[int]], replicas: int
) -> LocalGateway | None:
    """The console and the API on one origin (and with replicas, each service's own port
    balanced over its processes); None (and why) when nginx cannot be had."""
    port = int(env.get("GRIDGOV_GATEWAY_PORT") or GATEWAY_PORT)
    service_ports = (
        {module: int(env[f"{prefix}_PORT"]) for module, prefix, *_ in SERVICES}
        if replicas > 1
        else None
    )
    try:
        gateway = render_local(
            ROOT / "var" / "gateway", ports, port=port, service_ports=service_ports
        )
        gateway.start(new_session=True)
    except RuntimeError as error:
        print(f"gateway not started: {error}", file=sys.stderr)
        return None
    return gateway


def wait_ready(ports: list[int], deadline: float, stopping: Callable[[], bool]) -> set[int]:
    """Wait until every port answers /readyz with 200; return those that did not in time."""
    pending = set(ports)
    while pending and time.monotonic() < deadline and not stopping():
        for port in list(pending):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    pending.discard(port)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    return pending


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
    replicas = max(1, int(env.get("GRIDGOV_REPLICAS") or 1))
    ports = replica_ports(env, replicas)

    def serve(module: str, prefix: str) -> None:
        for i, port in enumerate(ports[module]):
            own = dict(env)
            own[f"{prefix}_PORT"] = str(port)
            if replicas > 1:
                log = Path(env[f"{prefix}_LOG_FILE"])
                own[f"{prefix}_LOG_FILE"] = str(log.with_name(f"{log.stem}-{i + 1}{log.suffix}"))
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, "serve"],
                    env=own,
                    cwd=ROOT,
                    start_new_session=True,
                )
            )

    deadline = time.monotonic() + 60 * replicas
    pending: set[int] = set()
    if replicas == 1:
        for module, prefix, *_ in SERVICES:
            serve(module, prefix)
        gateway = start_gateway(env, ports, replicas)
    else:
        # grid_service first (the others read its keys and revocations from their start), then
        # the gateway that answers on the contract ports, then the others
        serve("grid_service", "GRID")
        pending |= wait_ready(ports["grid_service"], deadline, lambda: stopping)
        gateway = start_gateway(env, ports, replicas)
        if gateway is None:
            print("REPLICAS needs the gateway (nginx) on the contract ports", file=sys.stderr)
            stopping = True
        for module, prefix, *_ in SERVICES:
            if module != "grid_service" and not stopping:
                serve(module, prefix)
    every = [p for group in ports.values() for p in group]
    pending |= wait_ready(every, deadline, lambda: stopping)
    if not stopping:
        print("\nGridgov is running:")
        for module, prefix, *_ in SERVICES:
            port = env[f"{prefix}_PORT"]
            own = ports[module]
            ready = sum(1 for p in own if p not in pending)
            state = "ready" if ready == len(own) else f"{ready}/{len(own)} READY (see var/log)"
            if replicas > 1:
                state += f", {len(own)} processes on " + ", ".join(str(p) for p in own)
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
