"""`make run`'s launcher on the embedded PostgreSQL: ready within 60 s, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.testing import REPO_ROOT, free_port


def run_env(tmp_path: Path, ports: dict[str, int], gateway: int) -> dict[str, str]:
    """make run's environment on ports of the test's own (the services reach each other at
    their ports: with replicas, the gateway's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASE_", "GRID_", "NOTIFY_"))}
    env["GRIDGOV_PG_DIR"] = str(tmp_path / "pg")
    env["GRIDGOV_GATEWAY_PORT"] = str(gateway)
    for prefix, port in ports.items():
        env[f"{prefix}_PORT"] = str(port)
        env[f"{prefix}_LOG_FILE"] = str(tmp_path / f"{prefix.lower()}.log")
        env[f"{prefix}_JWKS_URL"] = f"http://127.0.0.1:{ports['GRID']}/.well-known/jwks.json"
    env["CASE_GRID_SERVICE_URL"] = env["NOTIFY_GRID_SERVICE_URL"] = (
        f"http://127.0.0.1:{ports['GRID']}"
    )
    env["CASE_NOTIFY_SERVICE_URL"] = f"http://127.0.0.1:{ports['NOTIFY']}"
    return env


@pytest.mark.timeout(240)
def test_run_serves_all_three_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports = {"CASE": free_port(), "GRID": free_port(), "NOTIFY": free_port()}
    gateway = free_port()  # make run's :8000, moved off the contract port
    env = run_env(tmp_path, ports, gateway)
    out = (tmp_path / "run.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=REPO_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        pending = set(ports.values())
        while pending and time.monotonic() - started < 120:
            assert proc.poll() is None, (tmp_path / "run.out").read_text()
            for port in list(pending):
                try:
                    ok = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    if (
                        ok.status_code == 200
                        and httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()[
                            "status"
                        ]
                        == "ok"
                    ):
                        pending.discard(port)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        assert not pending, (tmp_path / "run.out").read_text()
        while "Press Ctrl-C" not in (tmp_path / "run.out").read_text():
            assert time.monotonic() - started < 120
            time.sleep(0.1)
        # The first start includes initdb; the README promises 60 s after the first install.
        assert time.monotonic() - started < 60
        # the gateway: the console at /, the API behind it on the same origin
        page = httpx.get(f"http://127.0.0.1:{gateway}/", timeout=5)
        assert page.status_code == 200
        assert '<div id="app">' in page.text
        token = httpx.post(
            f"http://127.0.0.1:{gateway}/api/v1/auth/token",
            data={"grant_type": "password", "username": "dispatcher", "password": "demo12345"},
            timeout=10,
        )
        assert token.status_code == 200, token.text
        assert httpx.get(f"http://127.0.0.1:{gateway}/.well-known/jwks.json").json()["keys"]
        assert httpx.get(f"http://127.0.0.1:{gateway}/metrics").status_code == 404
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "run.out").read_text()
    assert "Gridgov is running" in text
    assert "stopped." in text
    for port in [*ports.values(), gateway]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    # The embedded server is gone too: nothing is left running on its data folder.
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "pg")], capture_output=True, check=False
    )
    assert leftovers.stdout.strip() == b""


def _free_base() -> int:
    """A port p with p + 100 and p + 200 free too (make run's replica ports)."""
    import socket

    for _ in range(50):
        p = free_port()
        if p + 200 > 65535:
            continue
        ok = True
        for q in (p + 100, p + 200):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise RuntimeError("no free port triple")


@pytest.mark.timeout(300)
def test_run_with_two_replicas_answers_the_contract_ports_from_two_processes(
    tmp_path: Path,
) -> None:
    """`make run REPLICAS=2`: two processes of each service on the port + 100 and + 200, the
    gateway answering each service's own port (and the console's) balanced over them."""
    ports = {"CASE": _free_base(), "GRID": _free_base(), "NOTIFY": _free_base()}
    gateway = free_port()
    env = run_env(tmp_path, ports, gateway)
    env["GRIDGOV_REPLICAS"] = "2"
    out = (tmp_path / "run.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=REPO_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        while "Press Ctrl-C" not in (tmp_path / "run.out").read_text():
            assert proc.poll() is None, (tmp_path / "run.out").read_text()
            assert time.monotonic() - started < 240, (tmp_path / "run.out").read_text()
            time.sleep(0.3)
        text = (tmp_path / "run.out").read_text()
        assert "READY" not in text, text  # every process ready
        for port in ports.values():
            for replica in (port + 100, port + 200):  # each process on its own port
                assert httpx.get(f"http://127.0.0.1:{replica}/readyz", timeout=5).status_code == 200
            # the contract port: the gateway in front of both
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        token = httpx.post(
            f"http://127.0.0.1:{ports['GRID']}/api/v1/auth/token",
            data={"grant_type": "password", "username": "dispatcher", "password": "demo12345"},
            timeout=10,
        ).json()["access_token"]
        for _ in range(12):
            r = httpx.get(
                f"http://127.0.0.1:{ports['CASE']}/api/v1/categories",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
        served = [
            (tmp_path / f"case-{i}.log").read_text().count("/api/v1/categories") for i in (1, 2)
        ]
        assert all(n > 0 for n in served), served  # both case_service processes answered
        assert httpx.get(f"http://127.0.0.1:{gateway}/", timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    for port in [gateway, *ports.values(), *(p + 100 for p in ports.values())]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
