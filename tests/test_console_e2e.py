"""The console in a real browser against the real services (console/e2e, Playwright).

Three services on free ports with the demo data, the gateway (Debian's nginx, the compose
configuration) in front serving the built console, and Debian's chromium driven by Playwright:
a dispatcher accepts and dispatches a case a resident reported through the API, the roads
department's handler claims and resolves it, the dispatcher verifies it and it is closed;
then the grid map and the indicators board draw with data; and a neighbours' dispute is
mediated in its file (调解档案: registered, accepted, a mediator assigned, a session scheduled
and recorded, an agreement with its terms, the 调解协议书 downloaded) and found in the ledger
(矛盾纠纷台账) with the indicators. Every page is checked for words
left untranslated. Screenshots land in the test's folder (screens/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.local_gateway import apt_install, ensure_debian_package, render_local
from shared.testing import REPO_ROOT, free_port
from tests.system import System, start_system, stop_system

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import console  # scripts/console.py


def _browser() -> str:
    chromium = ensure_debian_package("chromium", "chromium")
    assert chromium, "Debian's chromium is needed for the console tests (apt-get install chromium)"
    # a font with Chinese glyphs, or every character is drawn as a box in the screenshots
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if not listed.stdout.strip():
        apt_install("fonts-wqy-microhei")
    return chromium


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[System]:
    running = await start_system(tmp_path, demo=True)
    try:
        yield running
    finally:
        await stop_system(running)


@pytest.mark.timeout(540)
async def test_console_case_life_map_and_indicators(system: System, tmp_path: Path) -> None:
    chromium = _browser()
    console.build()
    upstreams = {svc.module: [svc.port] for svc in system.services.values()}
    gateway = render_local(tmp_path / "gateway", upstreams, port=free_port())
    gateway.start()
    screens = tmp_path / "screens"
    screens.mkdir()
    npx = shutil.which("npx")
    assert npx, "npx (npm) is needed for the console tests"
    try:
        done = subprocess.run(
            [npx, "playwright", "test"],
            cwd=REPO_ROOT / "console",
            env={
                **os.environ,
                "GRIDGOV_CONSOLE_URL": gateway.url,
                "GRIDGOV_CHROMIUM": chromium,
                "GRIDGOV_SCREENSHOTS": str(screens),
                "GRIDGOV_E2E_OUTPUT": str(tmp_path / "results"),
                "CI": "1",
            },
            capture_output=True,
            text=True,
            timeout=480,
            check=False,
        )
    finally:
        gateway.stop()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout
    taken = sorted(p.name for p in screens.glob("*.png"))
    assert taken == [
        "01-queue.png",
        "02-dispatched.png",
        "03-closed.png",
        "04-map.png",
        "05-indicators.png",
        "06-mediation-file.png",
        "07-ledger.png",
    ]
