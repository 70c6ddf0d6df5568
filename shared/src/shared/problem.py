"""RFC 9457 problem details for every error a service returns.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
``instance``, a stable snake_case ``code`` and the ``request_id``; validation problems add
``errors``: a list of ``{field, reason, type}``. Domain errors subclass :class:`AppError`.
Unexpected exceptions are logged with their traceback and answered with a 500 that reveals
nothing internal.

Texts are zh-CN first (see :mod:`shared.i18n`): ``title``, ``detail`` and every ``reason`` are
given as :class:`~shared.i18n.Text` (both languages) and answered in Chinese, or in English when
``Accept-Language`` prefers it; ``code``, ``field`` and ``type`` never change with the language.
A subclass that declares a ``code`` must declare its own bilingual ``title`` (checked when the
class is defined). pydantic's messages are translated by :mod:`shared.validation_texts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.i18n import Lang, Text, localize, negotiate
from shared.logging import current_request_id, get_logger
from shared.validation_texts import reason_for

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://gridgov.org/problems/"

log = get_logger(__name__)


class FieldProblemBody(BaseModel):
    """One entry of a problem's ``errors`` as it goes on the wire."""

    field: str = Field(
        description="dotted path of the offending field, e.g. `location.lat` (never translated)"
    )
    reason: str = Field(
        description="what is wrong with it, in zh-CN (English under `Accept-Language: en`)"
    )
    type: str = Field("invalid", description="machine-readable kind of problem (never translated)")


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A field problem as raised in code: ``reason`` in both languages."""

    field: str
    reason: Text
    type: str = "invalid"

    def body(self, lang: Lang) -> dict[str, str]:
        reason = self.reason.get(lang) if isinstance(self.reason, Text) else str(self.reason)
        return {"field": self.field, "reason": reason, "type": self.type}


class Problem(BaseModel):
    """The body of every error response (RFC 9457). ``title``, ``detail`` and each ``reason``
    are in zh-CN, or in English when the request says ``Accept-Language: en`` (q-values
    honoured, e.g. ``en-US,en;q=0.9``); ``code``, ``type`` and each ``field`` are stable."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "https://gridgov.org/problems/validation_failed",
                "title": "请求校验未通过",
                "status": 422,
                "detail": "1 个字段有误：description",
                "instance": "/api/v1/cases",
                "code": "validation_failed",
                "request_id": "5f0c1e0e9d8b4b7c",
                "errors": [{"field": "description", "reason": "必填项", "type": "missing"}],
            }
        },
    )

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    request_id: str | None = None
    errors: list[FieldProblemBody] | None = None


class AppError(Exception):
    """A domain error that becomes a problem response. Subclass and set the class attributes."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[Text] = Text("请求有误", "Bad request")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "code" in own and "title" not in own:
            raise TypeError(f"{cls.__name__} declares code {own['code']!r} without a title Text")
        if "title" in own and not isinstance(own["title"], Text):
            raise TypeError(f"{cls.__name__}.title must be a Text (zh-CN and English)")

    def __init__(
        self,
        detail: Text | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: Text | None = None,
        errors: Sequence[FieldProblem | Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(str(detail or self.title))
        self.detail = detail
        self.instance_code = code or self.code
        self.instance_status = status or self.status
        self.instance_title: Text = title or self.title
        self.errors = [
            e if isinstance(e, FieldProblem) else FieldProblem(**e) for e in errors or []
        ]
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(AppError):
    status = 400
    code = "bad_request"
    title = Text("请求有误", "Bad request")


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = Text("需要登录认证", "Authentication required")

    def __init__(self, detail: Text | None = None, *, code: str | None = None) -> None:
        error = "invalid_token" if code in {"invalid_token", "token_expired"} else None
        challenge = "Bearer" + (f' error="{error}"' if error else "")
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = Text("无权操作", "Not allowed")


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = Text("未找到", "Not found")


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = Text("与当前状态冲突", "Conflict")


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"
    title = Text("前提条件不满足", "Precondition failed")


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = Text("请求体过大", "Payload too large")


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    title = Text("不支持的内容类型", "Unsupported media type")


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = Text("请求校验未通过", "Request validation failed")


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = Text("请求过于频繁", "Too many requests")


class UpstreamError(AppError):
    """Another service answered with a server error (after retries)."""

    status = 502
    code = "upstream_error"
    title = Text("上游服务出错", "An upstream service failed")


class UpstreamUnavailable(AppError):
    status = 503
    code = "upstream_unavailable"
    title = Text("上游服务不可用", "An upstream service is unavailable")


class UpstreamTimeout(AppError):
    status = 504
    code = "upstream_timeout"
    title = Text("上游服务超时", "An upstream service timed out")


def request_lang(request: Request | None) -> Lang:
    """The language a person reading this answer asked for (``Accept-Language``)."""
    if request is None:
        return "zh"
    return negotiate(request.headers.get("accept-language"))


#: A generic title per status, for problems raised without one (Starlette's HTTP errors).
STATUS_TITLES: dict[int, Text] = {
    400: Text("请求有误", "Bad Request"),
    401: Text("需要登录认证", "Unauthorized"),
    403: Text("无权操作", "Forbidden"),
    404: Text("未找到", "Not Found"),
    405: Text("不支持该请求方法", "Method Not Allowed"),
    406: Text("无法提供所要求的格式", "Not Acceptable"),
    409: Text("与当前状态冲突", "Conflict"),
    412: Text("前提条件不满足", "Precondition Failed"),
    413: Text("请求体过大", "Content Too Large"),
    415: Text("不支持的内容类型", "Unsupported Media Type"),
    422: Text("请求校验未通过", "Unprocessable Content"),
    429: Text("请求过于频繁", "Too Many Requests"),
    500: Text("服务器内部错误", "Internal Server Error"),
    502: Text("上游服务出错", "Bad Gateway"),
    503: Text("服务暂不可用", "Service Unavailable"),
    504: Text("上游服务超时", "Gateway Timeout"),
}


def status_title(status: int) -> Text:
    title = STATUS_TITLES.get(status)
    if title is not None:
        return title
    phrase = HTTPStatus(status).phrase
    return Text(f"错误 {status}", phrase)


def problem_body(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: Text | None = None,
    detail: Text | str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A problem's body in the request's language (also an item's answer inside a batch)."""
    lang = request_lang(request)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": localize(title or status_title(status), lang),
        "status": status,
        "detail": localize(detail, lang),
        "instance": request.url.path if request is not None else None,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = [e.body(lang) for e in errors]
    if extra:
        for key, value in extra.items():
            body.setdefault(key, _localize_deep(value, lang))
    return body


def app_error_body(request: Request | None, exc: AppError) -> dict[str, Any]:
    return problem_body(
        request,
        status=exc.instance_status,
        code=exc.instance_code,
        title=exc.instance_title,
        detail=exc.detail,
        errors=exc.errors,
        extra=exc.extra,
    )


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: Text | None = None,
    detail: Text | str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    lang = request_lang(request)
    body = problem_body(
        request, status=status, code=code, title=title, detail=detail, errors=errors, extra=extra
    )
    out_headers = {"Content-Language": "en" if lang == "en" else "zh-CN", **(headers or {})}
    vary = out_headers.get("Vary")
    out_headers["Vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    return JSONResponse(
        body, status_code=status, headers=out_headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _localize_deep(value: Any, lang: Lang) -> Any:
    """Texts inside a problem's extra members (e.g. an import's ``row_errors``) in ``lang``."""
    if isinstance(value, Text):
        return value.get(lang)
    if isinstance(value, Mapping):
        return {k: _localize_deep(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_localize_deep(v, lang) for v in value]
    return value


def _field_path(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        source, rest = parts[0], parts[1:]
        if not rest:
            return source
        return ".".join(rest) if source == "body" else f"{source}.{'.'.join(rest)}"
    return ".".join(parts) or "body"


def validation_problems(errors: Sequence[Any]) -> list[FieldProblem]:
    """pydantic's errors as field problems, each ``reason`` in zh-CN and English."""
    return [
        FieldProblem(
            field=_field_path(err.get("loc", ())),
            reason=reason_for(err),
            type=str(err.get("type", "invalid")),
        )
        for err in errors
    ]


def invalid_fields_detail(fields: Sequence[str]) -> Text:
    """``detail`` of a validation problem: how many fields and which."""
    names = ", ".join(fields)
    n = len(fields)
    return Text(
        f"{n} 个字段有误：{names}",
        f"{n} field{'s are' if n != 1 else ' is'} invalid: {names}",
    )


MALFORMED_JSON = Text("JSON 格式有误", "Malformed JSON body")
INTERNAL_ERROR = Text("服务器内部错误", "Internal server error")
INTERNAL_DETAIL = Text(
    "发生了意外错误；报告问题时请提供 request_id",
    "An unexpected error occurred; quote the request_id when reporting it",
)


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.instance_status >= 500:
        log.warning(
            "app_error", code=exc.instance_code, status=exc.instance_status, detail=str(exc.detail)
        )
    return problem_response(
        request,
        status=exc.instance_status,
        code=exc.instance_code,
        title=exc.instance_title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errs):
        return problem_response(
            request,
            status=400,
            code="malformed_json",
            title=MALFORMED_JSON,
            detail=Text("请求体不是有效的 JSON", "The request body is not valid JSON"),
            errors=[
                FieldProblem(
                    field="body",
                    reason=Text(
                        "不是有效的 JSON：" + str(errs[0].get("msg")), str(errs[0].get("msg"))
                    ),
                    type="json_invalid",
                )
            ],
        )
    problems = validation_problems(errs)
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title=ValidationFailed.title,
        detail=invalid_fields_detail(sorted({p.field for p in problems})),
        errors=problems,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

#: Starlette's own English details, and their Chinese.
_HTTP_DETAILS = {
    "Method Not Allowed": Text("该地址不支持此请求方法", "Method Not Allowed"),
    "Not Found": Text("未找到", "Not Found"),
    "Not Authenticated": Text("需要登录认证", "Not Authenticated"),
    "Not authenticated": Text("需要登录认证", "Not authenticated"),
    "Forbidden": Text("无权操作", "Forbidden"),
}


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    raw = exc.detail if isinstance(exc.detail, str) else None
    detail: Text | str | None = _HTTP_DETAILS.get(raw, raw) if raw is not None else None
    if exc.status_code == 404 and raw == "Not Found":
        route = f"{request.method} {request.url.path}"
        detail = Text(f"没有与 {route} 匹配的接口", f"No route matches {route}")
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        detail=detail,
        headers=getattr(exc, "headers", None),
    )


#: what a lost or refused database connection raises under SQLAlchemy's wrapper: the server
#: restarted or failed over, PgBouncer went away, the backend was terminated
#: (``pg_terminate_backend``), or asyncpg's protocol broke with it (asyncpg#1069: "cannot switch
#: to state 12; another operation is in progress").
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.PostgresConnectionError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being out of reach rather than a fault of the request
    or of the code: a connection SQLAlchemy invalidated, a database error with one of
    ``_CONNECTION_LOST`` in its cause chain, asyncpg's own connection errors, or no pooled
    connection free within the pool's timeout. The transaction did
    not commit (or its outcome is unknown, which an ``Idempotency-Key`` makes safe to retry)."""
    if isinstance(exc, sa.exc.TimeoutError):  # QueuePool: no connection within pool_timeout
        return True
    if isinstance(exc, _CONNECTION_LOST[1:]):  # asyncpg's own, used without SQLAlchemy
        return True
    if not isinstance(exc, sa.exc.DBAPIError):  # an OSError elsewhere is not the database
        return False
    if exc.connection_invalidated:
        return True
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, _CONNECTION_LOST):
            return True
        seen.add(id(cause))
        # only explicit causes (``raise … from``, as asyncpg and SQLAlchemy chain theirs): an
        # error raised while handling an unrelated OSError is not the database being away
        cause = cause.__cause__
    return False


DATABASE_UNAVAILABLE = Text(
    "数据库暂时无法连接，请求可能未完成；请稍后重试（写操作请带相同的 Idempotency-Key）",
    "The database could not be reached; the request may not have been carried out. Retry later"
    " (a write with the same Idempotency-Key)",
)


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        # no stack trace for an outage that every replica sees at once: one line, the class
        log.warning("database_unavailable", error=type(exc).__name__)
        return problem_response(
            request,
            status=503,
            code="database_unavailable",
            detail=DATABASE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    log.error("unhandled_exception", exc_info=exc)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title=INTERNAL_ERROR,
        detail=INTERNAL_DETAIL,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)


#: OpenAPI ``responses=`` fragment documenting the problem body for common statuses.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": f"{HTTPStatus(s).phrase} — {status_title(s).zh}",
        }
        for s in statuses
    }
