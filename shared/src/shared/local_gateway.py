"""The gateway on this machine: Debian's nginx with the compose gateway's own configuration.

`make run` (scripts/run.py) and the whole-system tests put it in front of the services so
that one origin serves the console (console/dist) and proxies `/api/…`, `/open311/…` and
`/.well-known/…` exactly as deploy/routes.yaml says — the configuration is the one
deploy/gateway/render.py writes for docker-compose, with the container's paths moved under a
folder of ours, the upstream host names replaced by loopback ports and `listen 80` by the port
asked for. Nothing here knows a route: a route added to deploy/routes.yaml is served here too.

Why nginx and not a Python proxy: it *is* the production gateway (same limits, body sizes,
request ids, problem answers), it streams uploads and exports, and it costs nothing to start.

Several replicas of a service: give that service several ports (`upstreams={"case_service":
[p1, p2]}`); each becomes one `server` line of the upstream, as compose's --scale does.

`service_ports={"case_service": 8001, …}` adds, next to the gateway, one listener per service
that passes *every* path to that service's replicas (least connections, the gateway's retry
rule): what a compose service name or a Kubernetes Service is to the other services — they
call each other there, internal routes included — and what `make run REPLICAS=2` answers on
the contract ports.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
RENDER = REPO_ROOT / "deploy" / "gateway" / "render.py"
CONSOLE_DIST = REPO_ROOT / "console" / "dist"


def apt_install(package: str) -> bool:
    """Install Debian's `package` with apt-get when we are root (as .ci/run does); True when
    apt-get says it is installed."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    print(f"installing {package} (apt-get) …", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
    return subprocess.run(install, env=env, capture_output=True, check=False).returncode == 0


def ensure_debian_package(command: str, package: str) -> str | None:
    """The path of `command`; installs Debian's `package` first when it is missing and we are
    root. None when it is missing and cannot be had."""
    extra = ("/usr/sbin", "/usr/local/sbin", "/sbin")
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(extra)
    found = shutil.which(command, path=path)
    if found is None and apt_install(package):
        found = shutil.which(command, path=path)
    return found


def find_nginx() -> str | None:
    return ensure_debian_package("nginx", "nginx")


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gridgov_gateway_render", RENDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalGateway:
    """One nginx master (with one worker) serving `port` on 127.0.0.1 from the folder `root`."""

    root: Path
    port: int
    nginx: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    def _cmd(self, *extra: str) -> list[str]:
        error_log = str(self.root / "log" / "error.log")
        return [self.nginx, "-p", str(self.root), "-c", str(self.conf), "-e", error_log, *extra]

    def check(self) -> None:
        """`nginx -t`: raise with nginx's own words when the configuration is refused."""
        done = subprocess.run(self._cmd("-t"), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"nginx refused {self.conf}:\n{done.stderr}")

    def start(self, *, new_session: bool = False, timeout: float = 10) -> None:
        out = (self.root / "log" / "nginx.out").open("ab")
        self.proc = subprocess.Popen(
            self._cmd("-g", "daemon off;"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    message = f"nginx did not start on :{self.port}:\n{self.tail()}"
                    raise RuntimeError(message) from None
                time.sleep(0.05)

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 10) -> None:
        """SIGQUIT: nginx's graceful stop (answers in flight are finished); then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)

    def tail(self, n: int = 30) -> str:
        lines: list[str] = []
        for name in ("nginx.out", "error.log"):
            path = self.root / "log" / name
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines)


def _service_listeners(table: Any, service_ports: Mapping[str, int]) -> str:
    """One server per service passing every path to its upstream (no route table, no rate
    limit): the service's own address, balanced over its replicas."""
    unknown = set(service_ports) - set(table.services)
    if unknown:
        raise ValueError(f"unknown services {', '.join(sorted(unknown))}")
    largest = max(table.bodies.values(), key=_size_bytes)
    out = []
    for name, listen in service_ports.items():
        out.append(
            f"\n# {name} on its own port: every path, balanced over its replicas\n"
            "server {\n"
            f"    listen 127.0.0.1:{listen};\n"
            f"    client_max_body_size {largest};\n"
            "    access_log off;\n"
            "    proxy_http_version 1.1;\n"
            '    proxy_set_header Connection "";\n'
            "    proxy_set_header Host $http_host;\n"
            "    proxy_set_header X-Request-ID $http_x_request_id;\n"
            "    proxy_request_buffering off;\n"
            "    proxy_buffering off;\n"
            "    proxy_connect_timeout 5s;\n"
            "    proxy_read_timeout 300s;\n"
            "    proxy_next_upstream error timeout;\n"
            "    proxy_next_upstream_tries 2;\n"
            f"    location / {{ proxy_pass http://{name}; }}\n"
            "}\n"
        )
    return "".join(out)


def _size_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].isalpha() else int(size)


def render_local(
    root: Path,
    upstreams: Mapping[str, Sequence[int]],
    *,
    port: int,
    console_dir: Path | None = CONSOLE_DIST,
    nginx: str | None = None,
    service_ports: Mapping[str, int] | None = None,
) -> LocalGateway:
    """Write the gateway's configuration under `root` and return it (not started).

    `upstreams` maps each service of deploy/routes.yaml (case_service, grid_service,
    notify_service) to the loopback ports of its processes. `console_dir` is the built
    console (served at /); None serves none (only the API routes answer)."""
    binary = nginx or find_nginx()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    render = _render_module()
    table: Any = render.load()
    missing = set(table.services) - set(upstreams)
    if missing:
        raise ValueError(f"no ports for {', '.join(sorted(missing))}")
    conf_d = root / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    (root / "log").mkdir(exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "temp" / sub).mkdir(parents=True, exist_ok=True)
    html = console_dir if console_dir is not None else root / "no-console"
    html.mkdir(parents=True, exist_ok=True)
    env = {"GATEWAY_SERVER_NAME": "_", "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"}
    texts = {
        "default.conf": render.render_default_conf(table),
        "gridgov-server.inc": render.render_server_inc(table),
    }
    for name, text in texts.items():
        text = re.sub(r"\$\{(GATEWAY_[A-Z_]+)\}", lambda m: env[m.group(1)], text)
        text = text.replace("/etc/nginx/conf.d/", f"{conf_d}/")
        text = text.replace("/var/log/nginx/", f"{root}/log/")
        text = text.replace(render.CONSOLE_ROOT, str(html))
        for upstream in table.services.values():
            servers = "".join(
                f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n"
                for p in upstreams[upstream.name]
            )
            text = text.replace(
                f"    server {upstream.host}:{upstream.port} max_fails=3 fail_timeout=10s;\n",
                servers,
            )
        text = re.sub(r"listen 80 default_server", f"listen 127.0.0.1:{port} default_server", text)
        if name == "default.conf":
            text += _service_listeners(table, service_ports or {})
        (conf_d / name).write_text(text, encoding="utf-8")
    mime = Path("/etc/nginx/mime.types")
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}worker_processes 1;\n"
        f"pid {root}/nginx.pid;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        + (f"    include {mime};\n" if mime.exists() else "")
        + "    default_type application/octet-stream;\n"
        f"    client_body_temp_path {root}/temp/body;\n"
        f"    proxy_temp_path {root}/temp/proxy;\n"
        f"    fastcgi_temp_path {root}/temp/fastcgi;\n"
        f"    uwsgi_temp_path {root}/temp/uwsgi;\n"
        f"    scgi_temp_path {root}/temp/scgi;\n"
        "    keepalive_timeout 65;\n"
        f"    include {conf_d}/default.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    gateway = LocalGateway(root=root, port=port, nginx=binary)
    gateway.check()
    return gateway
