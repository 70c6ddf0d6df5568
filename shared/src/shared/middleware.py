"""The ASGI middleware every service runs: request id, access log, metrics, body-size limit,
hostile-input screening, and the last-resort 500 problem (so even a crash carries the request id).

Screening happens before any route runs, the same way in every service, so that no endpoint has
to remember it:

* header values and the query string must be UTF-8 (400 ``invalid_encoding``, naming the field);
* no NUL character anywhere in the query string, a form body or a JSON body (PostgreSQL text and
  jsonb cannot hold U+0000, so it would otherwise surface as a database error): 422
  ``validation_failed`` naming each field;
* a JSON body must be UTF-8 (400 ``malformed_json``) and nested at most ``MAX_JSON_DEPTH`` levels
  (400 ``json_too_deep``; 100,000 levels of ``[`` would otherwise exhaust the parser's recursion).

JSON and form bodies are read whole here (they are bounded by the body limit anyway) and handed
to the app unchanged; uploads on the large-body paths stream through unscreened.

**Access log.** One ``request`` line per request at INFO (status, duration), except for the
operations paths (:data:`UNLOGGED_PATHS`, never logged) and the *quiet routes* a service
declares (``ServiceSpec.quiet_routes``: route path template → :class:`QuietRoute`), which are
called so often that the line itself would be a large part of their cost (grid_service's point
location, once per case intake).
Their ordinary answers — 2xx/3xx, and the statuses the route declares as ordinary answers
(``quiet_statuses``) — are logged at ``level`` (DEBUG) when they took at most ``slow_ms``;
any other status, or a slower answer (``slow: true``), is logged at INFO like every route.
Metrics (``http_requests_total``, the latency histogram) count every request either way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.i18n import Lang, Text, negotiate
from shared.logging import clean_request_id, get_logger, request_id_var
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.problem import (
    DATABASE_UNAVAILABLE,
    INTERNAL_DETAIL,
    INTERNAL_ERROR,
    MALFORMED_JSON,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_BASE,
    FieldProblem,
    PayloadTooLarge,
    ValidationFailed,
    database_unavailable,
    invalid_fields_detail,
    status_title,
)

ACCESS_LOGGER = "gridgov.access"
log = get_logger(ACCESS_LOGGER)
_access = logging.getLogger(ACCESS_LOGGER)  # its level check, before structlog does any work

#: paths never logged (probes, scrapes, the revocation feed every replica polls)
UNLOGGED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/auth/revocations"})


@dataclass(frozen=True, slots=True)
class QuietRoute:
    """How the access log treats one route of ``ServiceSpec.quiet_routes`` (see the module)."""

    #: the level of an ordinary answer (not logged at all while the logger is above it)
    level: int = logging.DEBUG
    #: an answer slower than this is logged at INFO with ``slow: true``
    slow_ms: float = 250.0
    #: 4xx/5xx statuses that are ordinary answers of this route (a locate's 404 for a point
    #: outside every area), logged at ``level`` like a success
    quiet_statuses: frozenset[int] = frozenset()

    def level_for(self, status: int, duration_ms: float) -> int:
        if duration_ms > self.slow_ms or (status >= 400 and status not in self.quiet_statuses):
            return logging.INFO
        return self.level


MAX_JSON_DEPTH = 64
NUL_REASON = Text("不能包含 NUL 字符（\\u0000）", "must not contain the NUL character (\\u0000)")
INVALID_ENCODING = Text("字符编码无效", "Invalid character encoding")
TOO_DEEP = Text("JSON 嵌套过深", "JSON nested too deeply")


class _BodyTooLarge(Exception):
    pass


class _Rejected(Exception):
    """The request is refused before it reaches the app."""

    def __init__(
        self, status: int, code: str, title: Text, detail: Text, errors: list[FieldProblem]
    ) -> None:
        super().__init__(str(detail))
        self.status, self.code, self.title, self.detail, self.errors = (
            status,
            code,
            title,
            detail,
            errors,
        )


def _field_error(field: str, reason: Text, kind: str) -> FieldProblem:
    return FieldProblem(field=field, reason=reason, type=kind)


def _nul_rejection(fields: list[str]) -> _Rejected:
    return _Rejected(
        422,
        "validation_failed",
        ValidationFailed.title,
        invalid_fields_detail(fields),
        [_field_error(f, NUL_REASON, "string_nul_character") for f in fields],
    )


def _utf8_reason(exc: UnicodeDecodeError) -> Text:
    byte, at = f"0x{exc.object[exc.start]:02x}", exc.start
    return Text(
        f"不是有效的 UTF-8（第 {at} 字节 {byte}）", f"is not valid UTF-8 (byte {byte} at {at})"
    )


def _encoding_rejection(field: str, exc: UnicodeDecodeError) -> _Rejected:
    reason = _utf8_reason(exc)
    return _Rejected(
        400,
        "invalid_encoding",
        INVALID_ENCODING,
        Text(f"{field} {reason.zh}", f"{field} {reason.en}"),
        [_field_error(field, reason, "invalid_utf8")],
    )


def check_pairs(raw: bytes, prefix: str) -> None:
    """``a=1&b=2`` (query string or form body): each name and value percent-decodes to UTF-8
    without NUL. Raises :class:`_Rejected`."""
    nul: list[str] = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        try:
            name = unquote_to_bytes(name_raw.replace(b"+", b" ")).decode()
        except UnicodeDecodeError as exc:
            raise _encoding_rejection(f"{prefix}(name)".rstrip("."), exc) from None
        field = f"{prefix}{name}"
        try:
            value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode()
        except UnicodeDecodeError as exc:
            raise _encoding_rejection(field, exc) from None
        if "\x00" in name or "\x00" in value:
            nul.append(field)
    if nul:
        raise _nul_rejection(sorted(set(nul)))


#: The request headers whose values the services decode, store or pass on as text; they must be
#: UTF-8. Other headers may carry Latin-1 bytes (HTTP allows them: an old client's User-Agent,
#: a third-party cookie) and are never decoded, so they are left alone apart from the NUL check.
DECODED_HEADERS = frozenset({b"authorization", b"idempotency-key", b"x-request-id", b"if-match"})


def _walk(value: Any) -> Iterator[tuple[tuple[str | int, ...], Any, int]]:
    """Every node of a parsed JSON document with its path and depth, iteratively."""
    stack: list[tuple[tuple[str | int, ...], Any, int]] = [((), value, 1)]
    while stack:
        path, node, depth = stack.pop()
        yield path, node, depth
        if isinstance(node, dict):
            for k, v in node.items():
                stack.append(((*path, k), v, depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append(((*path, i), v, depth + 1))


def _too_large(limit: int) -> _Rejected:
    return _Rejected(
        413,
        "payload_too_large",
        PayloadTooLarge.title,
        Text(f"请求体超过 {limit} 字节", f"The request body exceeds {limit} bytes"),
        [],
    )


def _nul_in(field: str, where: Text) -> _Rejected:
    """A NUL character where no text may hold one (a header, the path)."""
    return _Rejected(
        400,
        "invalid_encoding",
        INVALID_ENCODING,
        Text(f"{where.zh}{NUL_REASON.zh}", f"{where.en} {NUL_REASON.en}"),
        [_field_error(field, NUL_REASON, "string_nul_character")],
    )


def _too_deep(max_depth: int) -> _Rejected:
    detail = Text(
        f"JSON 请求体嵌套超过 {max_depth} 层",
        f"The JSON body is nested deeper than {max_depth} levels",
    )
    return _Rejected(
        400, "json_too_deep", TOO_DEEP, detail, [_field_error("body", detail, "json_too_deep")]
    )


def check_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """UTF-8, nesting depth and NUL characters of a JSON body. Raises :class:`_Rejected`.

    Cheap for ordinary bodies: the document is parsed here only when it could be too deep (more
    brackets than the depth limit) or holds an escaped NUL; anything that does not parse is left
    to the app, which answers ``malformed_json``.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        reason = _utf8_reason(exc)
        raise _Rejected(
            400,
            "malformed_json",
            MALFORMED_JSON,
            Text(f"请求体{reason.zh}", f"The request body {reason.en}"),
            [_field_error("body", reason, "invalid_utf8")],
        ) from None
    if "\\u0000" not in text and text.count("[") + text.count("{") <= max_depth:
        return
    try:
        doc = json.loads(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:
        return
    nul: list[str] = []
    for path, node, depth in _walk(doc):
        if isinstance(node, (dict, list)) and depth > max_depth:
            raise _too_deep(max_depth)
        key = path[-1] if path else None
        if (isinstance(node, str) and "\x00" in node) or (isinstance(key, str) and "\x00" in key):
            nul.append(".".join(str(p) for p in path) or "body")
    if nul:
        raise _nul_rejection(sorted(set(nul)))


def _media_type(headers: dict[bytes, bytes]) -> str:
    raw = headers.get(b"content-type", b"").decode("latin-1")
    return raw.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    # FastAPI parses a body without a content type as JSON too
    return media_type in ("", "application/json") or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _problem_bytes(
    status: int,
    code: str,
    title: Text,
    detail: Text,
    path: str,
    request_id: str,
    lang: Lang,
    errors: list[FieldProblem] | None = None,
) -> bytes:
    problem: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title.get(lang),
        "status": status,
        "detail": detail.get(lang),
        "instance": path,
        "code": code,
        "request_id": request_id,
    }
    if errors:
        problem["errors"] = [e.body(lang) for e in errors]
    return json.dumps(problem, ensure_ascii=False).encode()


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        large_body_bytes: int | None = None,
        large_body_markers: tuple[str, ...] = (),
        quiet_routes: Mapping[str, QuietRoute] | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.large_body_bytes = large_body_bytes or max_body_bytes
        self.large_body_markers = large_body_markers
        self.quiet_routes: Mapping[str, QuietRoute] = dict(quiet_routes or {})

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
                await self._send_rejection(send, _too_large(limit), path, request_id, _lang(scope))
                self._finish(scope, method, path, 413, started)
                return

        try:
            self._screen_target(scope, path)
        except _Rejected as rejected:
            await self._send_rejection(send, rejected, path, request_id, _lang(scope))
            self._finish(scope, method, path, rejected.status, started)
            return

        media_type = _media_type(headers)
        screen_body = (
            method in ("POST", "PUT", "PATCH", "DELETE")
            and limit == self.max_body_bytes  # uploads on large-body paths stream through
            and (_is_json(media_type) or media_type == "application/x-www-form-urlencoded")
        )
        if screen_body:
            buffered: list[Message] = []
            size = 0
            while True:
                message = await receive()
                buffered.append(message)
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > limit:
                    await self._send_rejection(
                        send, _too_large(limit), path, request_id, _lang(scope)
                    )
                    self._finish(scope, method, path, 413, started)
                    return
                if not message.get("more_body", False):
                    break
            body = b"".join(m.get("body", b"") for m in buffered if m["type"] == "http.request")
            try:
                if not body:
                    pass
                elif media_type == "application/x-www-form-urlencoded":
                    check_pairs(body, "")
                else:
                    check_json(body)
            except _Rejected as rejected:
                await self._send_rejection(send, rejected, path, request_id, _lang(scope))
                self._finish(scope, method, path, rejected.status, started)
                return
            replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
            if buffered[-1]["type"] != "http.request":
                replay.append(buffered[-1])  # the client went away meanwhile
            original_receive = receive

            async def replay_receive() -> Message:
                if replay:
                    return replay.pop(0)
                return await original_receive()

            receive = replay_receive

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
            unavailable = database_unavailable(exc)
            if unavailable:
                # an outage every request sees at once: one line with the class, no traceback
                log.warning("database_unavailable", error=type(exc).__name__)
            else:
                log.error("unhandled_exception", exc_info=exc)
            if not status_holder["started"] and not overflow:
                status_holder["status"] = 503 if unavailable else 500
                await self._send_problem(
                    send,
                    *(
                        (503, "database_unavailable", status_title(503), DATABASE_UNAVAILABLE)
                        if unavailable
                        else (500, "internal_error", INTERNAL_ERROR, INTERNAL_DETAIL)
                    ),
                    path,
                    request_id,
                    _lang(scope),
                    retry_after=1 if unavailable else None,
                )
        if overflow and not status_holder["started"]:
            status_holder["status"] = 413
            await self._send_rejection(send, _too_large(limit), path, request_id, _lang(scope))
        self._finish(scope, method, path, status_holder["status"], started)

    @staticmethod
    def _screen_target(scope: Scope, path: str) -> None:
        for name, value in scope.get("headers") or []:
            if b"\x00" in value:
                field = "header." + name.decode("latin-1")
                raise _nul_in(field, Text(field, field))
            if name.lower() in DECODED_HEADERS and not value.isascii():
                try:
                    value.decode()
                except UnicodeDecodeError as exc:
                    raise _encoding_rejection("header." + name.decode("latin-1"), exc) from None
        if "\x00" in path:
            raise _nul_in("path", Text("路径", "the path"))
        query: bytes = scope.get("query_string") or b""
        if query and (b"%" in query or not query.isascii()):
            check_pairs(query, "query.")

    async def _send_rejection(
        self, send: Send, rejected: _Rejected, path: str, request_id: str, lang: Lang
    ) -> None:
        await self._send_problem(
            send,
            rejected.status,
            rejected.code,
            rejected.title,
            rejected.detail,
            path,
            request_id,
            lang,
            errors=rejected.errors,
        )

    def _finish(self, scope: Scope, method: str, path: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
        HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
        if path in UNLOGGED_PATHS:
            return
        duration_ms = round(elapsed * 1000, 2)
        quiet = self.quiet_routes.get(route)
        if quiet is None:
            log.info("request", status=status, duration_ms=duration_ms)
            return
        level = quiet.level_for(status, duration_ms)
        if not _access.isEnabledFor(level):
            return  # structlog would build and process the event before the level check
        if duration_ms > quiet.slow_ms:
            log.log(level, "request", status=status, duration_ms=duration_ms, slow=True)
        else:
            log.log(level, "request", status=status, duration_ms=duration_ms)

    @staticmethod
    async def _send_problem(
        send: Send,
        status: int,
        code: str,
        title: Text,
        detail: Text,
        path: str,
        request_id: str,
        lang: Lang,
        errors: list[FieldProblem] | None = None,
        retry_after: int | None = None,
    ) -> None:
        body = _problem_bytes(status, code, title, detail, path, request_id, lang, errors)
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"content-language", b"en" if lang == "en" else b"zh-CN"),
            (b"vary", b"Accept-Language"),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _lang(scope: Scope) -> Lang:
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return negotiate(None)
