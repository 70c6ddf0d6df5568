"""`make test`: lint, types (Python and the console), then every test suite against real PostgreSQL.

Each service's suite runs in its own pytest process (each service has its own tables and
models), then the whole-system tests in tests/. The last line sums them up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    "shared/tests",
    "services/grid_service/tests",
    "services/case_service/tests",
    "services/notify_service/tests",
    "tests",
]
SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped)")


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def main() -> int:
    started = time.monotonic()
    failed: list[str] = []
    for name, cmd in [
        ("ruff check", ["ruff", "check", "."]),
        ("ruff format", ["ruff", "format", "--check", "."]),
        (
            "mypy",
            [
                "mypy",
                "shared/src",
                "services/case_service/src",
                "services/grid_service/src",
                "services/notify_service/src",
            ],
        ),
        # the console: API types from the services' OpenAPI, oxlint + prettier, vue-tsc
        # (its browser test is tests/test_console_e2e.py, in the tests/ suite)
        ("console", [sys.executable, "scripts/console.py", "check"]),
    ]:
        if run(cmd).returncode != 0:
            failed.append(name)
    totals = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    extra = sys.argv[1:]
    for suite in SUITES:
        if not (ROOT / suite).exists():
            continue
        # Each suite gets its own temporary folder: pytest prunes old ones under the shared
        # default, which would pull files from under a concurrent run.
        basetemp = ROOT / "var" / "pytest" / suite.replace("/", "-")
        basetemp.parent.mkdir(parents=True, exist_ok=True)
        proc = run(
            [
                sys.executable,
                "-m",
                "pytest",
                suite,
                "-q",
                "-p",
                "no:cacheprovider",
                f"--basetemp={basetemp}",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        print(proc.stdout, flush=True)
        last = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or [""]
        for count, kind in SUMMARY.findall(last[0]):
            key = "errors" if kind.startswith("error") else kind
            totals[key] += int(count)
        if proc.returncode not in (0, 5):  # 5: pytest collected no test in this suite
            failed.append(suite)
    elapsed = time.monotonic() - started
    print(f"\nchecks and suites failed: {', '.join(failed) or 'none'} ({elapsed:.0f}s)")
    print(
        f"{totals['passed']} passed, {totals['failed'] + totals['errors']} failed, "
        f"{totals['skipped']} skipped"
    )
    return 1 if failed or totals["passed"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
