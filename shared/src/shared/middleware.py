"""The ASGI middleware every service runs: request id, access log, metrics, body-size limit,
and the last-resort 500 problem (so even a crash carries the request id)."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import clean_request_id, get_logger, request_id_var
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.problem import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE

log = get_logger("gridgov.access")


class _BodyTooLarge(Exception):
    pass


def _problem_bytes(
    status: int, code: str, title: str, detail: str, path: str, request_id: str
) -> bytes:
    return json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + code,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "code": code,
            "request_id": request_id,
        },
        ensure_ascii=False,
    ).encode()


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        large_body_bytes: int | None = None,
        large_body_markers: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.large_body_bytes = large_body_bytes or max_body_bytes
        self.large_body_markers = large_body_markers

    def _limit_for(self, path: str) -> int:
        if any(m in path for m in self.large_body_markers):
            return self.large_body_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = clean_request_id(headers.get(b"x-request-id", b"").decode("latin-1") or None)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        token = request_id_var.set(request_id)
        try:
            await self._handle(scope, receive, send, request_id, path, method)
        finally:
            request_id_var.reset(token)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, path: str, method: str
    ) -> None:
        headers = dict(scope.get("headers") or [])
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, method=method, path=path)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}
        limit = self._limit_for(path)

        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._send_problem(
                    send,
                    413,
                    "payload_too_large",
                    "Payload too large",
                    f"The request body exceeds {limit} bytes",
                    path,
                    request_id,
                )
                self._finish(scope, method, path, 413, started)
                return

        received = 0
        overflow = False

        async def limited_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The framework may swallow this exception (FastAPI turns body errors into
                    # a 400), so the flag, not the exception, decides the answer below.
                    overflow = True
                    raise _BodyTooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            if overflow:
                return  # the 413 below replaces whatever the app answered
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                raw = list(message.get("headers") or [])
                raw.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLarge:
            pass
        except Exception as exc:
            log.error("unhandled_exception", exc_info=exc)
            if not status_holder["started"] and not overflow:
                status_holder["status"] = 500
                await self._send_problem(
                    send,
                    500,
                    "internal_error",
                    "Internal server error",
                    "An unexpected error occurred; quote the request_id when reporting it",
                    path,
                    request_id,
                )
        if overflow and not status_holder["started"]:
            status_holder["status"] = 413
            await self._send_problem(
                send,
                413,
                "payload_too_large",
                "Payload too large",
                f"The request body exceeds {limit} bytes",
                path,
                request_id,
            )
        self._finish(scope, method, path, status_holder["status"], started)

    def _finish(self, scope: Scope, method: str, path: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
        HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
        if path not in ("/healthz", "/readyz", "/metrics"):
            log.info("request", status=status, duration_ms=round(elapsed * 1000, 2))

    @staticmethod
    async def _send_problem(
        send: Send, status: int, code: str, title: str, detail: str, path: str, request_id: str
    ) -> None:
        body = _problem_bytes(status, code, title, detail, path, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
