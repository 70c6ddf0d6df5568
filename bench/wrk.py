"""Run wrk (Debian's package; ``scripts/ensure_wrk.sh`` installs it) with one of the Lua scripts
in ``bench/lua`` and read the figures its ``done()`` prints as one ``BENCHJSON {...}`` line.

The load generator's own CPU time is measured (``os.wait4``), so a run can show that wrk was
not the bottleneck (``wrk_cpu_share``: CPU seconds per wall second, 1.0 = one core busy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"


class WrkMissing(RuntimeError):
    pass


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed: run scripts/ensure_wrk.sh (as root) first")
    return found


def parse(output: str) -> dict[str, Any]:
    """The ``BENCHJSON`` line of a wrk run, with derived rates."""
    for line in output.splitlines():
        if line.startswith("BENCHJSON "):
            raw = json.loads(line.removeprefix("BENCHJSON "))
            break
    else:
        raise RuntimeError(f"wrk printed no BENCHJSON line:\n{output[-2000:]}")
    seconds = raw["duration_us"] / 1e6
    errors = sum(v for k, v in raw.items() if k.startswith("errors_"))
    ok = max(0, raw["requests"] - raw["errors_status"])
    return {
        "requests": raw["requests"],
        "ok": ok,
        "errors": errors,
        "errors_status": raw["errors_status"],
        "seconds": round(seconds, 2),
        "rps": round(ok / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
    }


def run(
    url: str,
    script: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    env: dict[str, str] | None = None,
    timeout_s: int = 10,
) -> dict[str, Any]:
    """wrk against ``url`` for ``seconds`` with ``bench/lua/<script>``; figures as a dict."""
    threads = max(1, min(threads, connections))
    cmd = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA / script),
        url,
    ]
    full_env = {
        **os.environ,
        **(env or {}),
        "BENCH_THREADS": str(threads),
        "BENCH_LUA_DIR": str(LUA),  # where the scripts find report.lua (their done())
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=seconds + timeout_s + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise RuntimeError(f"wrk did not finish: {out[-1000:]}") from None
    wall = time.perf_counter() - started
    # communicate() reaped it; the CPU time comes from /proc of ourselves is not per child, so
    # use the children's rusage delta measured around the run by the caller if needed.
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-2000:]}")
    result = parse(out)
    result.update(connections=connections, threads=threads, wall_seconds=round(wall, 2))
    return result


def run_measured(url: str, script: str, **kwargs: Any) -> dict[str, Any]:
    """``run`` plus wrk's own CPU share (children's rusage delta; run one wrk at a time)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(url, script, **kwargs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["wrk_cpu_share"] = round(cpu / max(result["wall_seconds"], 1e-9), 2)
    return result
