"""Start the three services as real processes on free ports, each on its own fresh database.

Used by the whole-system tests. Log lines go to JSON files so tests can read what each service
logged (request ids, for instance).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log_file.with_suffix(".out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve"],
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
class System:
    services: dict[str, ServiceProcess]
    database_urls: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> ServiceProcess:
        return self.services[key]


async def run_module(svc: ServiceProcess, command: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", svc.module, command, env=svc.env, cwd=REPO_ROOT
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"{svc.module} {command} failed")


async def start_system(
    tmp: Path, extra_env: dict[str, str] | None = None, *, demo: bool = False
) -> System:
    ports = {key: free_port() for key in SERVICES}
    urls = {key: await create_database(f"sys_{key}") for key in SERVICES}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CASE_", "GRID_", "NOTIFY_"))}
    base["PYTHONUNBUFFERED"] = "1"
    common = {
        "ENVIRONMENT": "test",
        "LOG_JSON": "true",
        "JWKS_URL": f"http://127.0.0.1:{ports['grid']}/.well-known/jwks.json",
        "HTTP_RETRIES": "1",
    }
    services: dict[str, ServiceProcess] = {}
    for key, module in SERVICES.items():
        prefix = key.upper() + "_"
        env = dict(base)
        for name, value in common.items():
            env[prefix + name] = value
        env[prefix + "DATABASE_URL"] = urls[key]
        env[prefix + "PORT"] = str(ports[key])
        env[prefix + "LOG_FILE"] = str(tmp / f"{module}.log")
        env[prefix + "GRID_SERVICE_URL"] = f"http://127.0.0.1:{ports['grid']}"
        env[prefix + "NOTIFY_SERVICE_URL"] = f"http://127.0.0.1:{ports['notify']}"
        env[prefix + "CASE_SERVICE_URL"] = f"http://127.0.0.1:{ports['case']}"
        env.update(extra_env or {})
        services[key] = ServiceProcess(key, module, ports[key], env, tmp / f"{module}.log")
    await asyncio.gather(*(run_module(svc, "migrate") for svc in services.values()))
    if demo:
        await asyncio.gather(*(run_module(svc, "load-demo") for svc in services.values()))
    system = System(services, urls)
    for svc in services.values():
        svc.start()
    try:
        await asyncio.gather(*(svc.wait_ready() for svc in services.values()))
    except BaseException:
        await stop_system(system)  # leave no process or database behind
        raise
    return system


async def stop_system(system: System) -> None:
    for svc in system.services.values():
        svc.stop()
    for url in system.database_urls.values():
        await drop_database(url)
