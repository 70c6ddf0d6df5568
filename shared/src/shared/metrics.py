"""Prometheus metrics common to every service (exposed at ``/metrics``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "gridgov_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "gridgov_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# --- background work (deploy/prometheus/alerts.yml alerts on these) -----------------------------
#: notify_service: each step of a message's delivery history, counted when it is recorded
#: (delivered, sent, deferred, failover = the next provider of a channel, fallback = the next
#: channel, failed, dead = a dead letter)
DELIVERY_EVENTS = Counter(
    "gridgov_notify_delivery_events_total",
    "Delivery history steps recorded, by status and channel",
    ["status", "channel"],
)
#: case_service: time-limit timers fired (reminder before a limit, overdue)
TIMERS_FIRED = Counter(
    "gridgov_sla_timers_fired_total", "Time-limit timers fired, by kind", ["kind"]
)
#: case_service: the event outbox as this replica read it at the scrape
OUTBOX_PENDING = Gauge(
    "gridgov_outbox_pending_events", "Outbox events not yet relayed", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "gridgov_outbox_oldest_pending_seconds",
    "Age of the oldest outbox event not yet relayed (0: none)",
    ["service"],
)


def count_delivery_events(events: Iterable[Mapping[str, Any]]) -> None:
    for event in events:
        DELIVERY_EVENTS.labels(
            status=str(event.get("status")), channel=str(event.get("channel") or "")
        ).inc()


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
