"""Start the three services as real processes on free ports, each on its own fresh database.

Used by the whole-system tests and the benchmarks. Log lines go to JSON files so tests can read
what each service logged (request ids, for instance).

As in production, a service may run as several processes (``replicas``): each on its own port,
all on the same database, each with its background workers (outbox relay, timers, rollup,
webhooks, delivery). Then the runner also starts

* the **gateway** — Debian's nginx with the compose gateway's own configuration
  (deploy/gateway/render.py through shared.local_gateway: every replica in the upstream, least
  connections, an idempotent request that found no replica tried on the next, never a POST that
  reached one) — at ``System.gateway.url``; and one listener per service balancing every path
  over its replicas, at ``System.url(key)``: what the compose service name or the Kubernetes
  Service is to the other services (they call each other there, JWKS included);
* optionally **PgBouncer** (Debian's package, transaction pooling) between every process and
  PostgreSQL, the services set for it with ``<PREFIX>DB_PGBOUNCER=true``.

With one process per service and no gateway, ``System.url(key)`` is that process (as before).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from shared.local_gateway import LocalGateway, ensure_debian_package, render_local
from shared.testing import REPO_ROOT, create_database, drop_database, free_port

SERVICES = {"grid": "grid_service", "case": "case_service", "notify": "notify_service"}


@dataclass
class ServiceProcess:
    key: str
    module: str
    port: int
    env: dict[str, str]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    replica: int = 0
    #: the command line; by default ``python -m <module> serve`` (the benchmarks' ceiling app
    #: runs as a script of its own)
    argv: list[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log_file.with_suffix(".out").open("ab")
        self.proc = subprocess.Popen(
            self.argv or [sys.executable, "-m", self.module, "serve"],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    async def wait_ready(self, timeout: float = 180) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient() as client:
            while asyncio.get_running_loop().time() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited: {self.tail()}")
                try:
                    if (await client.get(self.url + "/readyz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.module} not ready: {self.tail()}")

    def log_lines(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        out = []
        for line in self.log_file.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def tail(self, n: int = 40) -> str:
        path = self.log_file.with_suffix(".out")
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-n:])


@dataclass
class PgBouncer:
    """Debian's PgBouncer in transaction mode on a free loopback port, in front of the test
    server; every database of that server is reachable through it under its own name."""

    root: Path
    port: int
    pool_size: int
    proc: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """`database_url` (on the PostgreSQL server) as reached through this PgBouncer."""
        url = sa.engine.make_url(database_url)
        return url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def start(self, server_url: str, timeout: float = 15) -> None:
        binary = ensure_debian_package("pgbouncer", "pgbouncer")
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        server = sa.engine.make_url(server_url)
        self.root.mkdir(parents=True, exist_ok=True)
        users = self.root / "userlist.txt"
        users.write_text(f'"{server.username or "postgres"}" ""\n', encoding="utf-8")
        # PgBouncer refuses to run as root: it drops to the postgres user, who must read these.
        as_root = os.geteuid() == 0
        conf = self.root / "pgbouncer.ini"
        conf.write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 2000\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits\n"
            + ("user = postgres\n" if as_root else ""),
            encoding="utf-8",
        )
        if as_root:
            os.chmod(self.root, 0o755)  # noqa: S103  (PgBouncer's user reads its files)
        out = (self.root / "pgbouncer.out").open("ab")
        self.proc = subprocess.Popen(
            [binary, str(conf)], stdout=out, stderr=subprocess.STDOUT, cwd=self.root
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{self.tail()}") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # "safe shutdown": after the transactions end
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 30) -> str:
        path = self.root / "pgbouncer.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-n:])


@dataclass
class System:
    services: dict[str, ServiceProcess]  # the first (or only) process of each service
    database_urls: dict[str, str] = field(default_factory=dict)  # on PostgreSQL itself
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    gateway: LocalGateway | None = None
    pgbouncer: PgBouncer | None = None
    service_urls: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> ServiceProcess:
        return self.services[key]

    def url(self, key: str) -> str:
        """Where a client or another service reaches service `key`: its balancer over the
        replicas when there is one, else its one process."""
        return self.service_urls.get(key) or self.services[key].url

    def processes(self) -> list[ServiceProcess]:
        return [p for group in self.replicas.values() for p in group] or list(
            self.services.values()
        )


async def run_module(svc: ServiceProcess, command: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", svc.module, command, env=svc.env, cwd=REPO_ROOT
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"{svc.module} {command} failed")


def _replica_counts(replicas: int | Mapping[str, int]) -> dict[str, int]:
    if isinstance(replicas, int):
        return dict.fromkeys(SERVICES, replicas)
    return {key: int(replicas.get(key, 1)) for key in SERVICES}


async def start_system(
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    *,
    demo: bool = False,
    replicas: int | Mapping[str, int] = 1,
    gateway: bool | None = None,
    pgbouncer: bool = False,
    database_prefix: str = "sys",
) -> System:
    """Migrate (and with `demo` load the demo dataset), then start every process.

    `replicas`: processes per service (one number, or per key: ``{"case": 2}``); the gateway
    is started when any service has more than one, or when `gateway` is true. `pgbouncer`:
    every service process (migrations and demo data too) goes through one PgBouncer.
    `database_prefix`: the databases' names begin with it (the benchmarks' are ``bench_*``)."""
    counts = _replica_counts(replicas)
    with_gateway = gateway if gateway is not None else max(counts.values()) > 1
    ports = {key: [free_port() for _ in range(counts[key])] for key in SERVICES}
    balanced = {key: free_port() for key in SERVICES} if with_gateway else {}
    address = {
        key: f"http://127.0.0.1:{balanced[key] if with_gateway else ports[key][0]}"
        for key in SERVICES
    }
    urls = {key: await create_database(f"{database_prefix}_{key}") for key in SERVICES}
    system = System({}, urls)
    try:
        db_urls = dict(urls)
        if pgbouncer:
            # a small server pool per database, as in production: the replicas' client
            # connections are many, PostgreSQL's few
            system.pgbouncer = PgBouncer(tmp / "pgbouncer", free_port(), pool_size=8)
            system.pgbouncer.start(next(iter(urls.values())))
            db_urls = {key: system.pgbouncer.url(url) for key, url in urls.items()}
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("CASE_", "GRID_", "NOTIFY_"))
        }
        base["PYTHONUNBUFFERED"] = "1"
        common = {
            "ENVIRONMENT": "test",
            "LOG_JSON": "true",
            "JWKS_URL": f"{address['grid']}/.well-known/jwks.json",
            "HTTP_RETRIES": "1",
        }
        if pgbouncer:
            common.update(DB_PGBOUNCER="true", DB_POOL_SIZE="4", DB_MAX_OVERFLOW="6")
        for key, module in SERVICES.items():
            prefix = key.upper() + "_"
            group = []
            for i, port in enumerate(ports[key]):
                env = dict(base)
                for name, value in common.items():
                    env[prefix + name] = value
                suffix = f"-{i + 1}" if counts[key] > 1 else ""
                log_file = tmp / f"{module}{suffix}.log"
                env[prefix + "DATABASE_URL"] = db_urls[key]
                env[prefix + "PORT"] = str(port)
                env[prefix + "LOG_FILE"] = str(log_file)
                env[prefix + "GRID_SERVICE_URL"] = address["grid"]
                env[prefix + "NOTIFY_SERVICE_URL"] = address["notify"]
                env[prefix + "CASE_SERVICE_URL"] = address["case"]
                env.update(extra_env or {})
                group.append(ServiceProcess(key, module, port, env, log_file, replica=i))
            system.replicas[key] = group
            system.services[key] = group[0]
        first = list(system.services.values())
        await asyncio.gather(*(run_module(svc, "migrate") for svc in first))
        if demo:
            await asyncio.gather(*(run_module(svc, "load-demo") for svc in first))
        if with_gateway:
            # grid_service first, then the gateway, then the others: the others read grid's
            # revocation feed from their first second on, and a balancer that found no replica
            # three times marks them all down for 10 s (max_fails, as in compose)
            for svc in system.replicas["grid"]:
                svc.start()
            await asyncio.gather(*(svc.wait_ready() for svc in system.replicas["grid"]))
            upstreams = {SERVICES[key]: ports[key] for key in SERVICES}
            system.gateway = render_local(
                tmp / "gateway",
                upstreams,
                port=free_port(),
                console_dir=None,
                service_ports={SERVICES[key]: balanced[key] for key in SERVICES},
            )
            system.gateway.start()
            system.service_urls = dict(address)
        rest = [svc for svc in system.processes() if svc.proc is None]
        for svc in rest:
            svc.start()
        await asyncio.gather(*(svc.wait_ready() for svc in rest))
    except BaseException:
        await stop_system(system)  # leave no process or database behind
        raise
    return system


async def stop_system(system: System) -> None:
    await asyncio.gather(*(asyncio.to_thread(svc.stop) for svc in system.processes()))
    if system.gateway is not None:
        system.gateway.stop()
    if system.pgbouncer is not None:
        system.pgbouncer.stop()
    for url in system.database_urls.values():
        await drop_database(url)
