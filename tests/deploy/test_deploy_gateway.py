"""The gateway: its route table matches what the services serve, the generated nginx and Ingress
configuration is up to date, `nginx -t` accepts it, and a real nginx routes, limits and refuses
as the table says."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from deploy_support import (
    BY_NAME,
    SERVICES,
    body_limits,
    default_settings,
    find_nginx,
    missing_tool,
    render_module,
    served_paths,
    size_bytes,
)
from gateway_support import FakeService, free_port, nginx_test, render_gateway, running_nginx

from shared.local_gateway import render_local

SVC_IDS = [svc.name for svc in SERVICES]


def test_generated_files_are_up_to_date(table: Any) -> None:
    render = render_module()
    for path, text in render.outputs(table).items():
        assert path.exists(), f"{path} is missing: run python deploy/gateway/render.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} does not match deploy/routes.yaml: run python deploy/gateway/render.py"
        )
    assert render.main(["--check"]) == 0


@pytest.mark.parametrize("name", [svc.name for svc in SERVICES])
def test_every_served_path_is_routed_to_its_service(table: Any, name: str) -> None:
    """Fails when a service starts serving a prefix the table does not know (add it to
    deploy/routes.yaml, under routes: or internal:, and re-render)."""
    unrouted = []
    for path in served_paths(name):
        route = table.route_for(path)
        internal = [entry for entry in table.internal if entry.matches(path)]
        if route is not None and not internal:
            if route.service != name:
                unrouted.append(f"{path} (routed to {route.service})")
        elif internal:
            if internal[0].service != name or route is not None:
                unrouted.append(f"{path} (internal entry of {internal[0].service})")
        else:
            unrouted.append(f"{path} (no route)")
    assert not unrouted, (
        f"{name} serves paths the gateway does not route to it: {unrouted}; "
        "add them to deploy/routes.yaml and run python deploy/gateway/render.py"
    )


def test_every_route_is_served(table: Any) -> None:
    served = {svc.name: served_paths(svc.name) for svc in SERVICES}
    dead = []
    for entry in [*table.routes, *table.internal]:
        hit = any(entry.matches(path) for path in served[entry.service])
        if getattr(entry, "planned", False):
            if hit:
                warnings.warn(
                    f"{entry.prefix} is served by {entry.service} now: drop `planned: true` "
                    "in deploy/routes.yaml",
                    stacklevel=1,
                )
            continue
        if not hit:
            dead.append(f"{entry.prefix} -> {entry.service}")
    assert not dead, f"routes no service serves (mark them planned: true, or drop them): {dead}"


def _parse_locations(text: str) -> list[tuple[str, str, str | None]]:
    """(modifier, path, upstream or None) of every location in the nginx text."""
    found = []
    for match in re.finditer(r"^location\s+(=\s+)?(\S+)\s*\{(.*?)^\}", text, re.M | re.S):
        modifier = "=" if match.group(1) else ""
        proxy = re.search(r"proxy_pass\s+http://([\w-]+)\s*;", match.group(3))
        found.append((modifier, match.group(2), proxy.group(1) if proxy else None))
    return found


def _nginx_pick(locations: list[tuple[str, str, str | None]], path: str) -> str | None:
    for modifier, loc, upstream in locations:
        if modifier == "=" and loc == path:
            return upstream
    prefixes = [(loc, up) for mod, loc, up in locations if not mod and not loc.startswith("@")]
    matching = [(loc, up) for loc, up in prefixes if path.startswith(loc)]
    return max(matching, key=lambda item: len(item[0]))[1] if matching else None


def test_nginx_locations_send_each_path_to_its_service(table: Any) -> None:
    """Read the nginx locations themselves (not the table) and match the services' paths the
    way nginx does: exact locations first, then the longest prefix."""
    render = render_module()
    locations = _parse_locations(render.SERVER_INC.read_text(encoding="utf-8"))
    assert locations
    for svc in SERVICES:
        for path in served_paths(svc.name):
            if any(entry.matches(path) for entry in table.internal):
                assert _nginx_pick(locations, path) is None, f"internal {path} is proxied"
                continue
            assert _nginx_pick(locations, path) == svc.name, f"nginx sends {path} elsewhere"
    planned = {route.prefix.rstrip("/") for route in table.routes if route.planned}
    for modifier, loc, upstream in locations:
        if upstream is None or loc.rstrip("/") in planned:
            continue
        # `= /x` and `/x/` are the two halves of the route /x: either may be what is served
        base = loc.rstrip("/")
        paths = served_paths(upstream)
        assert any(p == base or p.startswith(base + "/") for p in paths), (
            f"{modifier} {loc} -> {upstream}: not served"
        )
    for prefix in ("/healthz", "/readyz", "/metrics"):
        assert _nginx_pick(locations, prefix) is None


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_upstream_ports_match_the_services(table: Any, svc: Any) -> None:
    upstream = table.services[svc.name]
    assert upstream.host == svc.host
    assert upstream.port == default_settings(svc).port
    dockerfile = (Path(render_module().DEPLOY) / svc.name / "Dockerfile").read_text()
    assert f"EXPOSE {upstream.port}" in dockerfile


@pytest.mark.parametrize("name", [svc.name for svc in SERVICES])
def test_body_sizes_let_the_service_answer(table: Any, name: str) -> None:
    """nginx must not refuse a body the service accepts: the default size covers the
    service's JSON limit, and routes to its upload paths cover its upload limit."""
    small, large, markers = body_limits(name)
    assert size_bytes(table.bodies["default"]) >= small
    for marker in markers:
        route = table.route_for(marker)
        assert route is not None, marker
        assert route.service == name, marker
        assert size_bytes(table.bodies[route.body]) >= large, (
            f"{marker}: gateway allows {table.bodies[route.body]}, {name} accepts {large} bytes"
        )


def test_route_table_refuses_mistakes(tmp_path: Path) -> None:
    render = render_module()
    bad = tmp_path / "routes.yaml"
    bad.write_text(
        "services: {a: {host: a, port: 1}}\nlimits: {api: {rate: 1, burst: 1}}\n"
        "bodies: {default: 1m}\n"
        "routes:\n  - {prefix: /x, service: b, limit: api, body: default}\n"
        "  - {prefix: /x/, service: a, limit: nope, body: default}\n"
    )
    with pytest.raises(ValueError, match="unknown service b") as info:
        render.load(bad)
    assert "listed twice" in str(info.value)
    assert "unknown limit nope" in str(info.value)


# --- nginx itself ------------------------------------------------------------------------------


def _nginx() -> str:
    nginx = find_nginx()
    if nginx is None:
        missing_tool(
            "nginx is not installed, so the gateway check `nginx -t` did not run "
            "(apt-get install nginx)"
        )
    assert nginx is not None
    return nginx


def _self_signed(folder: Path) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridgov.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_nginx_accepts_the_gateway_config(table: Any, tmp_path: Path, tls: bool) -> None:
    nginx = _nginx()
    overrides = {}
    if tls:
        overrides["GATEWAY_TLS_TEMPLATE"] = "./deploy/gateway/tls/https.conf.template"
        _self_signed(tmp_path / "etc" / "tls")  # /etc/nginx/tls in the container
    gateway = render_gateway(tmp_path, table, env_overrides=overrides)
    result = nginx_test(nginx, gateway)
    assert result.returncode == 0, f"nginx -t failed:\n{result.stderr}"
    assert "test is successful" in result.stderr
    rendered = (tmp_path / "etc" / "conf.d" / "tls.conf").read_text()
    assert ("listen 127.0.0.1:443 ssl" in rendered) is tls
    assert "${" not in "".join(p.read_text() for p in (tmp_path / "etc" / "conf.d").iterdir())


def test_nginx_rejects_a_broken_config(table: Any, tmp_path: Path) -> None:
    """`nginx -t` above is a real check: the same layout with a bad directive fails."""
    nginx = _nginx()
    gateway = render_gateway(tmp_path, table)
    conf_d = tmp_path / "etc" / "conf.d"
    inc = conf_d / "gridgov-server.inc"
    inc.write_text(inc.read_text() + "\nproxy_pass_nowhere on;\n")
    result = nginx_test(nginx, gateway)
    assert result.returncode != 0
    assert "proxy_pass_nowhere" in result.stderr


def test_nginx_routes_limits_and_refuses(table: Any, tmp_path: Path) -> None:
    """A real nginx with this configuration, in front of three fake services on loopback."""
    nginx = _nginx()
    fakes = {svc.name: FakeService(svc.name) for svc in SERVICES}
    try:
        gateway = render_gateway(
            tmp_path,
            table,
            upstream_ports={name: fake.port for name, fake in fakes.items()},
            http_port=free_port(),
        )
        with (
            running_nginx(nginx, gateway),
            httpx.Client(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=10) as client,
        ):
            _check_routing(client, table)
            _check_refusals(client)
            _check_rate_limit(client)
            fakes["notify_service"].stop()
            down = client.get("/api/v1/inbox", headers={"X-Forwarded-For": "198.51.100.9"})
            assert down.status_code == 502
            assert down.json()["code"] == "upstream_unavailable"
            assert down.json()["status"] == 502
            assert down.headers["content-type"] == "application/problem+json"
    finally:
        for fake in fakes.values():
            fake.stop()


def _check_routing(client: httpx.Client, table: Any) -> None:
    counter = 0
    for svc in SERVICES:
        for path in served_paths(svc.name):
            if any(entry.matches(path) for entry in table.internal):
                continue
            counter += 1
            # a different client address each time (trusted X-Forwarded-For from loopback),
            # so that this loop is not rate-limited
            client_ip = f"203.0.113.{counter % 250 + 1}"
            response = client.get(path, headers={"X-Forwarded-For": client_ip})
            assert response.status_code == 200, (path, response.status_code, response.text)
            body = response.json()
            assert body["service"] == svc.name, f"{path} reached {body['service']}"
            assert body["path"] == path
            assert body["forwarded_for"] == client_ip
            assert body["forwarded_proto"] == "http"
            assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"] or "")
    echoed = client.get("/api/v1/categories", headers={"X-Request-ID": "req-abc-123"}).json()
    assert echoed["request_id"] == "req-abc-123"
    # a client not behind a trusted proxy cannot choose the address the services see: the
    # gateway trusts X-Forwarded-For only from GATEWAY_TRUSTED_PROXIES (here: loopback, the
    # test client itself), and passes on the one address it resolved, not the whole chain
    spoofed = client.get(
        "/api/v1/categories", headers={"X-Forwarded-For": "192.0.2.200, 203.0.113.5"}
    ).json()
    assert spoofed["forwarded_for"] == "203.0.113.5"


def _check_refusals(client: httpx.Client) -> None:
    for path in ("/api/v1/casesx", "/metrics", "/readyz", "/api/v1/recipients", "/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert response.headers["x-request-id"] == response.json()["request_id"]
    assert client.get("/healthz").json() == {"status": "ok", "service": "gateway"}
    big = b"x" * (3 * 1024 * 1024)
    refused = client.post("/api/v1/cases", content=big, headers={"X-Forwarded-For": "192.0.2.1"})
    assert refused.status_code == 413
    assert refused.json()["code"] == "payload_too_large"
    accepted = client.post(
        "/api/v1/attachments", content=big, headers={"X-Forwarded-For": "192.0.2.2"}
    )
    assert accepted.status_code == 200
    assert accepted.json()["received"] == len(big)


def _check_rate_limit(client: httpx.Client) -> None:
    statuses = []
    for _ in range(200):  # bounded: stops at the first refusal
        response = client.post("/api/v1/auth/token", headers={"X-Forwarded-For": "192.0.2.77"})
        statuses.append(response)
        if response.status_code == 429:
            break
    codes = [r.status_code for r in statuses]
    assert codes[:20] == [200] * 20, codes  # the burst of the public class
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, f"{len(codes)} sign-in attempts at once from one address were all let through"
    assert limited[0].json()["code"] == "rate_limited"
    assert limited[0].headers["retry-after"] == "1"
    # another client is not affected
    other = client.post("/api/v1/auth/token", headers={"X-Forwarded-For": "192.0.2.78"})
    assert other.status_code == 200


def test_nginx_binary_version_is_reported() -> None:
    nginx = find_nginx()
    if nginx is None:
        missing_tool("nginx is not installed; the gateway checks did not run")
    assert nginx is not None
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    assert "nginx version" in result.stderr
    assert BY_NAME  # the services are known


class DyingReplica:
    """A replica that reads a request and drops the connection without answering (a process
    killed mid-request, as nginx sees it); counts what it got by method."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.methods: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.methods.append(data.split(b" ", 1)[0].decode())

    def stop(self) -> None:
        self.sock.close()


def test_an_idempotent_request_moves_to_the_next_replica_and_a_post_never(
    table: Any, tmp_path: Path
) -> None:
    """Two replicas of case_service, one dying with every request it gets: a GET is answered
    by the other (`proxy_next_upstream error timeout`); a POST that reached the dying one is
    a 502 and never reaches the other (no `non_idempotent`: the client retries it with its
    Idempotency-Key)."""
    nginx = _nginx()
    dying = DyingReplica()
    fakes = {svc.name: FakeService(svc.name) for svc in SERVICES}
    try:
        upstreams = {name: [fake.port] for name, fake in fakes.items()}
        upstreams["case_service"] = [dying.port, fakes["case_service"].port]
        gateway = render_local(
            tmp_path / "gw", upstreams, port=free_port(), console_dir=None, nginx=nginx
        )
        gateway.start()
        try:
            with httpx.Client(base_url=gateway.url, timeout=10) as client:
                posts = [client.post("/api/v1/cases", json={"n": i}).status_code for i in range(4)]
                gets = [client.get("/api/v1/cases").status_code for _ in range(4)]
        finally:
            gateway.stop()
        conf = (tmp_path / "gw" / "conf.d" / "default.conf").read_text()
    finally:
        dying.stop()
        for fake in fakes.values():
            fake.stop()
    assert "least_conn;" in conf
    assert "POST" in dying.methods  # least connections spread the POSTs over both
    assert posts.count(502) == dying.methods.count("POST")
    assert posts.count(200) == 4 - posts.count(502)  # each that reached it: 502, not retried
    assert gets == [200] * 4  # whichever replica was tried first
    server_inc = (tmp_path / "gw" / "conf.d" / "gridgov-server.inc").read_text()
    directives = [line for line in server_inc.splitlines() if not line.lstrip().startswith("#")]
    assert "proxy_next_upstream error timeout;" in directives
    assert not [line for line in directives if "non_idempotent" in line]
