"""``make bench``: every benchmark in one run, one table (figure, value, target, pass/fail), and
the same as JSON in ``var/bench/results.json`` (see docs/performance.md).

Order: intake and its ceiling first (the machine is quietest then), then the scale figures
(intake with 1 and 2 case_service replicas behind the gateway, ``bench/scale_bench.py``); the
generated city (``bench/city.py``: 30,000 grids, households, staff, 1,000,000 cases) into two
scratch databases, reused by the case-list and locate benchmarks; then the timer scan, the
indicator endpoints (``bench/stats_bench.py``'s command line, which seeds its own district) and
the broadcast fan-out.
Each benchmark that fails is reported as an error in the table and the run goes on. Scratch
databases (``bench_*``) and processes are removed at the end, also on Ctrl-C, unless ``--keep``.

    uv run python bench/run.py [--quick] [--only intake,list,…] [--keep] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCHES = ["intake", "scale", "list", "locate", "timer", "stats", "broadcast"]
MB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    """How much each benchmark does: ``full()`` is the issue's, ``quick()`` takes minutes."""

    cases: int = 1_000_000
    households_per_grid: int = 100
    intake_seconds: float = 20
    intake_connections: int = 32
    scale_seconds: float = 20
    list_runs: int = 40
    stats_cases: int = 1_000_000
    stats_runs: int = 20
    locate_lookups: int = 200_000
    locate_seconds: float = 15
    timer_cases: int = 1_000_000
    timer_runs: int = 30
    broadcast_recipients: int = 100_000
    broadcast_phase_recipients: int = 20_000

    @classmethod
    def full(cls) -> Scale:
        return cls()

    @classmethod
    def quick(cls) -> Scale:
        return cls(
            cases=100_000,
            households_per_grid=10,
            intake_seconds=8,
            scale_seconds=8,
            list_runs=10,
            stats_cases=100_000,
            stats_runs=5,
            locate_lookups=50_000,
            locate_seconds=5,
            timer_cases=100_000,
            timer_runs=10,
            broadcast_recipients=10_000,
            broadcast_phase_recipients=2_000,
        )


# --- figures and targets (pure; tests/test_bench_harness.py) -------------------------------


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    value: float | None
    unit: str
    target: str  # e.g. "< 100", ">= 0.4", "" for a figure shown without a target
    passed: bool | None  # None: no target, or the benchmark failed
    note: str = ""


def check(value: float | None, target: str) -> bool | None:
    """Whether ``value`` meets ``target`` ("< 100", "<= 2", ">= 2000", "> 0"); None if either
    is missing."""
    if value is None or not target:
        return None
    match = re.fullmatch(r"\s*(<=|>=|<|>)\s*([-\d.]+)\s*", target)
    if not match:
        raise ValueError(f"unreadable target {target!r}")
    op, bound = match.group(1), float(match.group(2))
    return {
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[op]


def figure(
    bench: str, name: str, value: float | None, unit: str, target: str = "", note: str = ""
) -> Figure:
    return Figure(bench, name, value, unit, target, check(value, target), note)


def _worst(
    rows: list[dict[str, Any]], key: str, where: Callable[[dict[str, Any]], bool]
) -> tuple[float | None, str]:
    chosen = [r for r in rows if where(r)]
    if not chosen:
        return None, ""
    worst = max(chosen, key=lambda r: r[key])
    return float(worst[key]), str(worst.get("query") or worst.get("endpoint") or "")


def one_line(error: str, limit: int = 160) -> str:
    """An error for the table: its first line and its last (the exception), whitespace folded."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    text = lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"
    return " ".join(text.split())[:limit]


def _replicas(n: int) -> str:
    return f"{n} case_service replica{'s' if n != 1 else ''}"


def scale_figures(r: dict[str, Any]) -> list[Figure]:
    """The scale rows: intake at each replica count behind the gateway, the ratio of the
    largest to the smallest, case_service's CPU per intake (summed over its replicas) and
    PostgreSQL's CPU during each run."""
    bench, runs = "scale", r["runs"]
    out: list[Figure] = []
    for run in runs:
        cores = run.get("cores", {})
        out.append(
            figure(
                bench,
                f"intake, {_replicas(run['replicas'])} behind the gateway",
                run["rps"],
                "req/s",
                note=f"PgBouncer, {run['connections']} connections, p99 {run['p99_ms']:.0f} ms, "
                f"machine {cores.get('machine', 0):.2f} cores busy",
            )
        )
    if len(runs) > 1:
        low, high = runs[0], runs[-1]
        out.append(
            figure(
                bench,
                f"intake {high['replicas']} replicas / {low['replicas']} replica",
                r.get("ratio"),
                "ratio",
                note=f"{r.get('cpus', '?')} cores: every process of the system and wrk share them",
            )
        )
    for run in runs:
        cpu = run["cpu_ms_per_intake"]
        if "case_service" in cpu:
            out.append(
                figure(
                    bench,
                    f"CPU per intake: case_service, {_replicas(run['replicas'])}",
                    cpu["case_service"],
                    "ms",
                    note="summed over its processes, workers included; grid "
                    f"{cpu.get('grid_service', 0):.1f}, nginx {cpu.get('nginx', 0):.1f}, "
                    f"PgBouncer {cpu.get('pgbouncer', 0):.1f} ms",
                )
            )
    for run in runs:
        cores, cpu = run.get("cores", {}), run["cpu_ms_per_intake"]
        if "postgres" in cores:
            out.append(
                figure(
                    bench,
                    f"PostgreSQL CPU during intake, {_replicas(run['replicas'])}",
                    cores["postgres"],
                    "cores",
                    note=f"{cpu['postgres']:.1f} ms per intake (this run's backends); "
                    f"whole server {cores.get('postgres_server', 0):.2f} cores",
                )
            )
    return out


#: what the CPU rows of the intake other than the services' own measure
CPU_NOTES = {
    "postgres": "PostgreSQL backends of the run's databases, during the maximum run",
    "postgres_server": "the whole PostgreSQL server (its helpers and exited backends too)",
    "machine": "every core of the machine during the maximum run, wrk included",
}


def evaluate(results: dict[str, Any]) -> list[Figure]:
    """The table's rows from the benchmarks' raw results (absent benchmarks are left out; a
    benchmark that failed is one row with its error)."""
    out: list[Figure] = []
    for bench in BENCHES:
        if bench not in results:
            continue
        r = results[bench]
        if "error" in r:
            out.append(
                Figure(bench, f"{bench} benchmark", None, "", "", None, one_line(r["error"]))
            )
            continue
        if bench == "intake":
            half, top, ceil = r["half"], r["max"], r["ceiling"]
            out += [
                figure(bench, "ceiling: minimal FastAPI + asyncpg insert", ceil["rps"], "req/s"),
                figure(
                    bench,
                    "intake: maximum throughput",
                    top["rps"],
                    "req/s",
                    note=f"{r['connections']} connections, p99 {top['p99_ms']:.0f} ms",
                ),
                figure(bench, "intake / ceiling", r["ratio"], "ratio", ">= 0.4"),
                figure(
                    bench,
                    "intake at half the maximum: p50",
                    half["p50_ms"],
                    "ms",
                    note=f"offered {half['offered_rps']:.1f}, achieved {half['rps']:.1f} req/s",
                ),
                figure(bench, "intake at half the maximum: p99", half["p99_ms"], "ms", "< 100"),
                figure(
                    bench,
                    "load generator CPU (wrk, busiest run: the ceiling)",
                    max(ceil.get("wrk_cpu_share", 0), top.get("wrk_cpu_share", 0)),
                    "cores",
                    "< 0.5",
                    note="wrk's own CPU; not the bottleneck when well below 1 core",
                ),
            ]
            if "actions" in r:
                a = r["actions"]
                out += [
                    figure(
                        bench,
                        "actions: accept/dispatch/claim/resolve/verify",
                        a["aps"],
                        "actions/s",
                        note=f"{a['connections']} cases at a time, p99 {a['p99_ms']:.0f} ms, "
                        "Python driver on the same cores",
                    ),
                    figure(bench, "actions / ceiling", a["ratio"], "ratio"),
                    figure(
                        bench,
                        "CPU per action: case_service",
                        a["case_cpu_ms_per_action"],
                        "ms",
                        note="workers included",
                    ),
                ]
            for service, ms in sorted(r.get("cpu_ms_per_intake", {}).items()):
                out.append(
                    figure(
                        bench,
                        f"CPU per intake: {service}",
                        ms,
                        "ms",
                        "<= 3" if service == "case_service" else "",
                        note=CPU_NOTES.get(service, "during the maximum run, workers included"),
                    )
                )
            if (whole := ceil.get("cpu_ms_per_request", {}).get("machine")) is not None:
                out.append(
                    figure(
                        bench,
                        "CPU per request: ceiling, whole machine",
                        whole,
                        "ms",
                        note="every core, PostgreSQL and wrk included; compare the intake's",
                    )
                )
            for service, rss in sorted(r["rss_bytes"].items()):
                out.append(
                    figure(
                        bench,
                        f"peak RSS {service} (intake load)",
                        round(rss / MB, 1),
                        "MB",
                        "< 300",
                    )
                )
        elif bench == "scale":
            out += scale_figures(r)
        elif bench == "list":
            value, which = _worst(r["queries"], "p95_ms", lambda _: True)
            out.append(
                figure(
                    bench,
                    f"case list p95, worst of {len(r['queries'])} queries",
                    value,
                    "ms",
                    "< 50",
                    note=f"{which}; {r['cases']:,} cases",
                )
            )
            value, which = _worst(r["queries"], "p50_ms", lambda _: True)
            out.append(figure(bench, "case list p50, worst query", value, "ms", note=which))
        elif bench == "stats":
            rows = r["endpoints"]
            value, which = _worst(rows, "p95_ms", lambda e: e["endpoint"].startswith("indicators"))
            out.append(
                figure(
                    bench,
                    "indicators p95, worst endpoint",
                    value,
                    "ms",
                    "< 500",
                    note=f"{which}; {r['cases']:,} cases",
                )
            )
            value, which = _worst(
                rows, "p95_ms", lambda e: not e["endpoint"].startswith("indicators")
            )
            out.append(
                figure(
                    bench,
                    "other statistics p95 (series, ranking, exports)",
                    value,
                    "ms",
                    note=which,
                )
            )
        elif bench == "locate":
            local, http = r["in_process"], r.get("http", {})
            grids = r["grids"]
            out += [
                figure(
                    bench,
                    f"locate in-process p99 ({grids:,} grids)",
                    local["p99_us"],
                    "µs",
                    "< 1000",
                    note=f"{local['lookups_per_second']:,.0f} lookups/s",
                ),
                figure(
                    bench,
                    "locate in-process with ancestors + result p99",
                    local["full_p99_us"],
                    "µs",
                ),
            ]
            if http:
                out += [
                    figure(
                        bench,
                        "locate over HTTP",
                        http["rps"],
                        "req/s",
                        note=f"p50 {http['p50_ms']:.1f} ms, {http['connections']} connections",
                    ),
                    figure(bench, "locate over HTTP p99", http["p99_ms"], "ms"),
                    figure(
                        bench,
                        f"peak RSS grid_service ({grids:,} grids, locate load)",
                        round(http["rss_bytes"] / MB, 1),
                        "MB",
                        "< 300",
                    ),
                ]
        elif bench == "timer":
            first, last = r["steps"][0], r["steps"][-1]
            out += [
                figure(
                    bench,
                    f"timer scan p50 at {last['open_cases']:,} open cases",
                    last["scan_p50_ms"],
                    "ms",
                    note=f"{r['due']} due timers claimed",
                ),
                figure(
                    bench,
                    f"timer scan growth {first['open_cases']:,} → "
                    f"{last['open_cases']:,} open cases",
                    r["ratio"],
                    "x",
                    "<= 2",
                    note="independent of open cases: the ratio stays near 1",
                ),
            ]
        elif bench == "broadcast":
            out.append(
                figure(
                    bench,
                    f"broadcast to {r['recipients']:,} recipients",
                    r["messages_per_second"],
                    "msg/s",
                    ">= 2000",
                    note=f"{r['seconds']:.1f} s end to end, fake provider",
                )
            )
    return out


def fmt_value(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render(figures: list[Figure]) -> str:
    """The table: figure, value, target, pass/fail, note."""
    head = ("figure", "value", "target", "result", "note")
    rows = [
        (
            f.name,
            f"{fmt_value(f.value)} {f.unit}".strip(),
            f"{f.target} {f.unit}".strip() if f.target else "",
            {True: "pass", False: "FAIL", None: "error" if f.value is None else ""}[f.passed],
            f.note,
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = []
    for r in [head, *rows]:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        )
        if r is head:
            lines.append("  ".join("-" * w for w in widths) + "  ----")
    return "\n".join(line.rstrip() for line in lines)


def summary(figures: list[Figure]) -> dict[str, int]:
    return {
        "targets": sum(f.passed is not None for f in figures),
        "passed": sum(f.passed is True for f in figures),
        "failed": sum(f.passed is False for f in figures),
        "errors": sum(f.passed is None and f.value is None for f in figures),
    }


def report(results: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    figures = evaluate(results)
    return {
        **meta,
        "summary": summary(figures),
        "figures": [asdict(f) for f in figures],
        "results": results,
    }


def markdown(payload: dict[str, Any]) -> str:
    """The run as a Markdown table with its scale, duration and load average (for
    docs/performance.md)."""
    load = payload.get("load_average", {})
    m = payload.get("machine", {})
    head = (
        f"{'Quick' if payload.get('quick') else 'Full'} run of {payload.get('started_at', '?')}: "
        f"{payload.get('duration_s', 0) / 60:.1f} min, {m.get('cpus', '?')} CPUs, "
        f"{m.get('memory_gib', '?')} GiB, load average {load.get('start', ['?'])[0]} at the start, "
        f"{load.get('end', ['?'])[0]} at the end."
    )
    lines = [
        head,
        "",
        "| figure | value | target | result | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in payload["figures"]:
        result = {True: "pass", False: "**FAIL**", None: "error" if f["value"] is None else ""}
        target = f"{f['target']} {f['unit']}" if f["target"] else ""
        value = f"{fmt_value(f['value'])} {f['unit']}".strip()
        note = f["note"].replace("|", "/")
        lines.append(f"| {f['name']} | {value} | {target} | {result[f['passed']]} | {note} |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)


# --- the benchmarks --------------------------------------------------------------------------


STATS_LINE = re.compile(
    r"^(?P<name>\S.*?)\s{2,}(?P<p50>[\d.]+)\s+(?P<p95>[\d.]+)\s+(?P<max>[\d.]+)\s*$"
)


def parse_stats(output: str) -> list[dict[str, Any]]:
    """The endpoint rows of ``bench/stats_bench.py``'s table (name, p50, p95, max in ms)."""
    rows = []
    for line in output.splitlines():
        m = STATS_LINE.match(line)
        if m and ":" in m.group("name"):
            rows.append(
                {
                    "endpoint": m.group("name").strip(),
                    "p50_ms": float(m.group("p50")),
                    "p95_ms": float(m.group("p95")),
                    "max_ms": float(m.group("max")),
                }
            )
    return rows


def run_stats(
    scale: Scale, seed: int, deadline_s: float = 1800, started: list[Any] | None = None
) -> dict[str, Any]:
    """``bench/stats_bench.py`` through its command line (it seeds its own district)."""
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "stats_bench.py"),
        "--cases",
        str(scale.stats_cases),
        "--runs",
        str(scale.stats_runs),
        "--seed",
        str(seed),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if started is not None:
        started.append(proc)
    try:
        out, _ = proc.communicate(timeout=deadline_s)
    except BaseException:  # timeout or Ctrl-C: let it drop its database, then make sure
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    log = ROOT / "var" / "bench" / "logs" / "stats_bench.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(out)
    rows = parse_stats(out)
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"stats_bench exited {proc.returncode}: {out[-600:]}")
    return {"cases": scale.stats_cases, "runs": scale.stats_runs, "endpoints": rows}


class Runner:
    def __init__(self, scale: Scale, seed: int, keep: bool, only: list[str]) -> None:
        self.scale, self.seed, self.keep, self.only = scale, seed, keep, only
        self.results: dict[str, Any] = {}
        self.city: Any = None
        self.city_urls: dict[str, str] = {}
        self.city_info: dict[str, Any] = {}
        self.now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.children: list[subprocess.Popen[str]] = []  # run in threads: stopped here on Ctrl-C

    async def step(self, name: str, coro_factory: Callable[[], Any]) -> None:
        if name not in self.only:
            return
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        try:
            self.results[name] = await coro_factory()
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # one benchmark failing does not stop the others
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  {name} failed: {type(exc).__name__}: {exc}", flush=True)
        self.results[name]["elapsed_s"] = round(time.perf_counter() - started, 1)
        print(f"  ({self.results[name]['elapsed_s']} s)", flush=True)

    async def ensure_city(self) -> None:
        if self.city is not None:
            return
        from bench import city as citymod
        from shared.testing import create_database

        shape = citymod.Shape(households_per_grid=self.scale.households_per_grid)
        self.city = citymod.generate(self.seed, shape)
        print(
            f"  city: {len(self.city.areas):,} areas, {len(self.city.grids):,} grids; "
            f"loading {self.scale.cases:,} cases",
            flush=True,
        )
        self.city_urls["grid"] = await create_database("bench_city_grid")
        self.city_urls["case"] = await create_database("bench_city_case")
        self.city_info = await citymod.build(self.city, self.city_urls, self.scale.cases, self.now)
        print(
            f"  city loaded in {self.city_info['seconds']} s: "
            f"{self.city_info['households']:,} households, {self.city_info['cases']:,} cases "
            f"({self.city_info['open_cases']:,} open)",
            flush=True,
        )
        self.results["city"] = {k: v for k, v in self.city_info.items() if k != "categories"}

    async def drop_city(self) -> None:
        from shared.testing import drop_database

        for key, url in list(self.city_urls.items()):
            if self.keep:
                print(f"  kept {url}")
            else:
                await drop_database(url)
            del self.city_urls[key]

    async def intake(self) -> dict[str, Any]:
        from bench import intake_bench

        return await intake_bench.measure(
            seconds=self.scale.intake_seconds, connections=self.scale.intake_connections
        )

    async def scale_out(self) -> dict[str, Any]:
        from bench import scale_bench

        return await scale_bench.measure(
            seconds=self.scale.scale_seconds, connections=self.scale.intake_connections
        )

    async def case_list(self) -> dict[str, Any]:
        from bench import case_list_bench

        await self.ensure_city()
        ctx = case_list_bench.Context.of(self.city, self.city_info["categories"])
        rows = await case_list_bench.run(
            self.city_urls["case"], self.scale.list_runs, random.Random(self.seed), ctx, self.now
        )
        return {"cases": self.city_info["cases"], "runs": self.scale.list_runs, "queries": rows}

    async def locate(self) -> dict[str, Any]:
        from bench import locate_bench

        await self.ensure_city()
        rows = locate_bench.city_rows(self.city)
        box = self.city.extent()
        local = await asyncio.to_thread(
            locate_bench.bench_in_process, rows, self.scale.locate_lookups, box
        )
        print(f"  in-process p99 {local['p99_us']:.1f} µs", flush=True)
        http = await locate_bench.bench_http_wrk(
            self.city_urls["grid"], box, seconds=self.scale.locate_seconds
        )
        print(f"  HTTP {http['rps']:,.0f} req/s, p99 {http['p99_ms']:.1f} ms", flush=True)
        return {"grids": len(self.city.grids), "in_process": local, "http": http}

    async def timer(self) -> dict[str, Any]:
        from bench import timer_scan_bench

        return await timer_scan_bench.measure(self.scale.timer_cases, 1_000, self.scale.timer_runs)

    async def stats(self) -> dict[str, Any]:
        return await asyncio.to_thread(run_stats, self.scale, self.seed, 1800, self.children)

    async def broadcast(self) -> dict[str, Any]:
        from bench import broadcast_bench

        return await broadcast_bench.run(
            self.scale.broadcast_recipients, 4, 500, self.scale.broadcast_phase_recipients
        )

    async def all(self) -> None:
        try:
            await self.step("intake", self.intake)
            await self.step("scale", self.scale_out)
            await self.step("list", self.case_list)
            await self.step("locate", self.locate)
            await self.drop_city()
            await self.step("timer", self.timer)
            await self.step("stats", self.stats)
            await self.step("broadcast", self.broadcast)
        finally:
            for proc in self.children:  # stats_bench in its own session: SIGINT drops its database
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGINT)
                    try:
                        await asyncio.to_thread(proc.wait, 60)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
            await self.drop_city()


async def cancellable(work: Any) -> None:
    """Run ``work``; the first Ctrl-C, SIGTERM or SIGHUP cancels it (its ``finally`` blocks
    remove the scratch databases and processes), later ones are ignored while that clean-up
    runs. The handlers go through the event loop's wake-up descriptor, so a signal landing on a
    worker thread (wrk and stats_bench run in threads) still wakes the loop at once."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    signals = 0

    def stop() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print("\nstopping: removing scratch databases and processes …", flush=True)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    await work


def machine() -> dict[str, Any]:
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scale: a few minutes")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--keep", action="store_true", help="keep the city's databases")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases", type=int, help="cases in the generated city")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "results.json")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else BENCHES
    if unknown := set(only) - set(BENCHES):
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    scale = Scale.quick() if args.quick else Scale.full()
    if args.cases:
        scale = Scale(**{**asdict(scale), "cases": args.cases})
    started_at, started = datetime.now(UTC), time.perf_counter()
    load_before = os.getloadavg()
    runner = Runner(scale, args.seed, args.keep, only)
    interrupted = False
    try:
        asyncio.run(cancellable(runner.all()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        print("\ninterrupted: scratch databases and processes removed", flush=True)
    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
        "interrupted": interrupted,
        "scale": asdict(scale),
        "seed": args.seed,
        "machine": machine(),
        "load_average": {
            "start": [round(v, 2) for v in load_before],
            "end": [round(v, 2) for v in os.getloadavg()],
        },
    }
    payload = report(runner.results, meta)
    print("\n" + render(evaluate(runner.results)))
    s = payload["summary"]
    print(
        f"\n{s['passed']} of {s['targets']} targets met, {s['failed']} missed, "
        f"{s['errors']} benchmarks failed; {meta['duration_s']:.0f} s; load average "
        f"{meta['load_average']['start'][0]} → {meta['load_average']['end'][0]}; "
        f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
    )
    write_json(args.out, payload)
    args.out.with_suffix(".md").write_text(markdown(payload))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
