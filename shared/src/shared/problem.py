"""RFC 9457 problem details for every error a service returns.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
``instance``, a stable snake_case ``code`` and the ``request_id``; validation problems add
``errors``: a list of ``{field, reason, type}``. Domain errors subclass :class:`AppError`.
Unexpected exceptions are logged with their traceback and answered with a 500 that reveals
nothing internal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import current_request_id, get_logger

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://gridgov.org/problems/"

log = get_logger(__name__)


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. `location.lat`")
    reason: str = Field(description="what is wrong with it")
    type: str = Field("invalid", description="machine-readable kind of problem")


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "https://gridgov.org/problems/validation_failed",
                "title": "Request validation failed",
                "status": 422,
                "detail": "1 field is invalid",
                "instance": "/api/v1/cases",
                "code": "validation_failed",
                "request_id": "5f0c1e0e9d8b4b7c",
                "errors": [{"field": "description", "reason": "Field required", "type": "missing"}],
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
    errors: list[FieldProblem] | None = None


class AppError(Exception):
    """A domain error that becomes a problem response. Subclass and set the class attributes."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        errors: Sequence[FieldProblem | Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.instance_code = code or self.code
        self.instance_status = status or self.status
        self.instance_title = title or self.title
        self.errors = [
            e if isinstance(e, FieldProblem) else FieldProblem.model_validate(e)
            for e in (errors or [])
        ]
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(AppError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        error = "invalid_token" if code in {"invalid_token", "token_expired"} else None
        challenge = "Bearer" + (f' error="{error}"' if error else "")
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = "Request validation failed"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class UpstreamError(AppError):
    """Another service answered with a server error (after retries)."""

    status = 502
    code = "upstream_error"
    title = "An upstream service failed"


class UpstreamUnavailable(AppError):
    status = 503
    code = "upstream_unavailable"
    title = "An upstream service is unavailable"


class UpstreamTimeout(AppError):
    status = 504
    code = "upstream_timeout"
    title = "An upstream service timed out"


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str | None = None,
    detail: str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else None,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    if extra:
        for key, value in extra.items():
            body.setdefault(key, value)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _field_path(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        source, rest = parts[0], parts[1:]
        if not rest:
            return source
        return ".".join(rest) if source == "body" else f"{source}.{'.'.join(rest)}"
    return ".".join(parts) or "body"


def validation_problems(errors: Sequence[Any]) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    for err in errors:
        out.append(
            FieldProblem(
                field=_field_path(err.get("loc", ())),
                reason=str(err.get("msg", "invalid")),
                type=str(err.get("type", "invalid")),
            )
        )
    return out


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.instance_status >= 500:
        log.warning(
            "app_error", code=exc.instance_code, status=exc.instance_status, detail=exc.detail
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
            title="Malformed JSON body",
            detail="The request body is not valid JSON",
            errors=[
                FieldProblem(field="body", reason=str(errs[0].get("msg")), type="json_invalid")
            ],
        )
    problems = validation_problems(errs)
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title="Request validation failed",
        detail=f"{len(problems)} field{'s are' if len(problems) != 1 else ' is'} invalid: "
        + ", ".join(sorted({p.field for p in problems})),
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


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.method} {request.url.path}"
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        detail=detail,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_exception", exc_info=exc)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred; quote the request_id when reporting it",
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
            "description": HTTPStatus(s).phrase,
        }
        for s in statuses
    }
