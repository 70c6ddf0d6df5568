"""Lifecycle actions per second on the real case_service (run by ``bench/intake_bench.py`` in the
same run as the intake and its ceiling, so that its ratio to the ceiling is of one machine state).

With the three services already serving the demo dataset:

1. ``cases`` reports at the demo point (lat 30.2741, lng 120.1551: the grid of the demo
   dispatcher and worker), filed by the resident, ``connections`` at a time (not measured).
2. ``connections`` concurrent chains, each taking one case after another through the five
   actions of an ordinary life — ``accept`` (dispatcher), ``dispatch`` to the grid worker
   (dispatcher), ``claim`` and ``resolve`` (worker), ``verify`` (dispatcher) — one request at a
   time per case, as the people would. Every answer must be 200; anything else stops the run.
3. Actions per second over the run, latency p50/p99 of one action, and case_service's CPU per
   action (``/proc/<pid>/stat`` over the run; relay, timers and every worker included).

The driver is Python (httpx, one event loop): it spends CPU on the same machine, which the
figure's note states; wrk cannot follow a case's state from one request to the next.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

POINT = {"lat": 30.2741, "lng": 120.1551, "crs": "gcj02"}
CATEGORY = "0802"
LIFE = ("accept", "dispatch", "claim", "resolve", "verify")


def subject(token: str) -> str:
    """The ``sub`` claim of a JWT (read, not verified: the service verifies it)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def report(client: httpx.AsyncClient, token: str) -> str:
    r = await client.post(
        "/api/v1/cases",
        json={
            "category_code": CATEGORY,
            "description": f"井盖缺失（压测 {uuid.uuid4().hex[:12]}）",
            "channel": "mini_program",
            "location": POINT,
        },
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
    )
    if r.status_code != 201:
        raise RuntimeError(f"report answered {r.status_code}: {r.text[:300]}")
    return str(r.json()["id"])


async def measure(
    case_url: str,
    tokens: dict[str, str],
    *,
    cases: int,
    connections: int,
    cpu: Callable[[], float],
) -> dict[str, Any]:
    """``tokens``: resident, dispatcher and worker access tokens. ``cpu``: case_service's CPU
    seconds so far."""
    worker_sub = subject(tokens["worker"])
    bodies: dict[str, dict[str, Any]] = {
        "dispatch": {"assignees": [{"account_id": worker_sub}]},
        "resolve": {"result": "已更换井盖（压测）"},
    }
    actor = {
        "accept": "dispatcher",
        "dispatch": "dispatcher",
        "claim": "worker",
        "resolve": "worker",
        "verify": "dispatcher",
    }
    headers = {who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=case_url, timeout=60, limits=limits) as client:
        ids: list[str] = []
        gate = asyncio.Semaphore(connections)

        async def one() -> None:
            async with gate:
                ids.append(await report(client, tokens["resident"]))

        await asyncio.gather(*(one() for _ in range(cases)))
        queue = list(ids)
        latencies: list[float] = []

        async def chain() -> None:
            while queue:
                cid = queue.pop()
                for action in LIFE:
                    started = time.perf_counter()
                    r = await client.post(
                        f"/api/v1/cases/{cid}/actions/{action}",
                        json=bodies.get(action, {}),
                        headers=headers[actor[action]],
                    )
                    latencies.append(time.perf_counter() - started)
                    if r.status_code != 200:
                        raise RuntimeError(f"{action} answered {r.status_code}: {r.text[:300]}")

        cpu_before, started = cpu(), time.perf_counter()
        await asyncio.gather(*(chain() for _ in range(connections)))
        wall = time.perf_counter() - started
        cpu_used = cpu() - cpu_before
    done = len(latencies)
    return {
        "cases": len(ids),
        "connections": connections,
        "actions": done,
        "wall_seconds": round(wall, 2),
        "aps": round(done / wall, 1),
        "p50_ms": round(1000 * percentile(latencies, 0.50), 1),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
        "case_cpu_ms_per_action": round(1000 * cpu_used / max(1, done), 2),
    }
