"""Run the compose gateway's nginx configuration on this machine, as the nginx image would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from deploy_support import ROOT, load_compose


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def envsubst(text: str, env: dict[str, str]) -> str:
    """`envsubst "$defined"`: replace $NAME and ${NAME} for the names in env, nothing else."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env[name] if name in env else match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, text)


@dataclass
class Gateway:
    root: Path
    conf: Path
    http_port: int
    https_port: int


def render_gateway(
    tmp: Path,
    table: Any,
    *,
    env_overrides: dict[str, str] | None = None,
    upstream_ports: dict[str, int] | None = None,
    http_port: int = 80,
    https_port: int = 443,
) -> Gateway:
    """Lay the gateway out under `tmp` the way the nginx image does at start (templates
    rendered with the container's GATEWAY_* variables into conf.d/), with /etc/nginx and
    /var/log/nginx moved under `tmp` and the upstream host names replaced by 127.0.0.1."""
    from deploy_support import env_example

    compose = load_compose({**env_example(), **(env_overrides or {})})
    gateway = compose["services"]["gateway"]
    env = {str(k): str(v) for k, v in gateway["environment"].items()}
    wanted = re.compile(env.get("NGINX_ENVSUBST_FILTER", ""))
    env = {k: v for k, v in env.items() if wanted.search(k)}
    etc = tmp / "etc"
    (etc / "conf.d").mkdir(parents=True, exist_ok=True)
    (tmp / "log").mkdir(exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / "temp" / sub).mkdir(parents=True, exist_ok=True)
    for volume in gateway["volumes"]:
        source, target = volume.split(":")[:2]
        if not target.startswith("/etc/nginx/templates/"):
            continue
        name = target.rsplit("/", 1)[1].removesuffix(".template")
        text = envsubst((ROOT / source).read_text(encoding="utf-8"), env)
        text = text.replace("/etc/nginx/", f"{etc}/").replace("/var/log/nginx/", f"{tmp}/log/")
        for upstream in table.services.values():
            port = (upstream_ports or {}).get(upstream.name, upstream.port)
            text = text.replace(
                f"server {upstream.host}:{upstream.port} ", f"server 127.0.0.1:{port} "
            )
        text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
        text = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", text)
        (etc / "conf.d" / name).write_text(text, encoding="utf-8")
    mime = Path("/etc/nginx/mime.types")
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = etc / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {tmp}/nginx.pid;\n"
        f"error_log {tmp}/log/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        + (f"    include {mime};\n" if mime.exists() else "")
        + "    default_type application/octet-stream;\n"
        f"    client_body_temp_path {tmp}/temp/body;\n"
        f"    proxy_temp_path {tmp}/temp/proxy;\n"
        f"    fastcgi_temp_path {tmp}/temp/fastcgi;\n"
        f"    uwsgi_temp_path {tmp}/temp/uwsgi;\n"
        f"    scgi_temp_path {tmp}/temp/scgi;\n"
        "    keepalive_timeout 65;\n"
        f"    include {etc}/conf.d/*.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    return Gateway(root=tmp, conf=conf, http_port=http_port, https_port=https_port)


def nginx_cmd(nginx: str, gateway: Gateway, *extra: str) -> list[str]:
    return [
        nginx,
        "-p",
        str(gateway.root),
        "-c",
        str(gateway.conf),
        "-e",
        str(gateway.root / "log" / "error.log"),
        *extra,
    ]


def nginx_test(nginx: str, gateway: Gateway) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        nginx_cmd(nginx, gateway, "-t"), capture_output=True, text=True, timeout=60, check=False
    )


@contextmanager
def running_nginx(nginx: str, gateway: Gateway) -> Iterator[None]:
    proc = subprocess.Popen(
        nginx_cmd(nginx, gateway, "-g", "daemon off;"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    raise RuntimeError(f"nginx did not start: {out}") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class FakeService:
    """An upstream that answers every request with who it is and what it received."""

    def __init__(self, name: str) -> None:
        service = name

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = json.dumps(
                    {
                        "service": service,
                        "path": self.path,
                        "method": self.command,
                        "received": length,
                        "request_id": self.headers.get("X-Request-ID"),
                        "forwarded_for": self.headers.get("X-Forwarded-For"),
                        "forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
