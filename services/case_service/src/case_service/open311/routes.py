"""Open311 GeoReport v2 at ``/open311/v2/`` — JSON and XML, errors in the spec's own body.

Every parameter is read as text and checked here, so that an empty parameter counts as absent
and every refusal is the spec's ``[{code, description}]`` (400, 403, 404), never a 422.

The GETs are public and show what the disclosure policy allows (``service`` module docstring;
docs/security.md, "Open311 disclosure policy"); an optional ``api_key`` identifies a platform
client, which then also sees the requests it handed in, and the internal extension fields if
its key has the scope ``open311:extensions``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import col

from case_service import intake
from case_service.cases import flows
from case_service.cases.models import Case
from case_service.cases.schemas import CaseCreate, Channel, LocationIn, ReporterIn
from case_service.open311 import service
from case_service.open311.formats import Open311Error, check_format, render
from case_service.open311.models import Open311Request
from shared.auth import Principal, Role
from shared.db import SessionDep, utcnow
from shared.problem import AppError, request_lang

router = APIRouter(prefix="/open311/v2", tags=["open311"])

Fmt = Annotated[str, Path(description="`json` or `xml`", examples=["json"])]
Text = Annotated[str | None, Query()]
ApiKey = Annotated[
    str | None,
    Query(
        description="optional: a platform client's key. Without it the answer is the public "
        "view of the disclosure policy; with it the client also sees the requests it handed "
        "in (in full) and, with the scope `open311:extensions`, the internal extension "
        "fields. An unknown key is a 403.",
    ),
]
POLICY = (
    ' What is shown follows the disclosure policy (docs/security.md, "Open311 disclosure '
    'policy"): categories whose `public_disclosure` is `none` (crime tips, petitions, '
    "disputes, welfare …) are neither listed nor their requests shown, anonymous reports "
    "never; descriptions have phone, ID-card, bank-card and plate numbers redacted; the point "
    "is rounded to 3 decimals (~100 m) and the address is the grid's name unless the category "
    "is `public`; `status_notes` is only the handler's public reply (公开答复)."
)
MAX_WINDOW = timedelta(days=90)
DEFAULT_LIMIT = 1000

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'bad parameters: `[{"code": 400, "description": "…"}]`'},
    403: {"description": "api_key missing or invalid"},
    404: {"description": "unknown jurisdiction, service_code or service_request_id"},
}


def _given(value: str | None) -> str | None:
    """The spec: an empty parameter is the same as an absent one."""
    if value is None:
        return None
    value = value.strip()
    return value or None


@contextlib.contextmanager
def _as_open311(fmt: str) -> Iterator[None]:
    """Our own problems, said the GeoReport way."""
    try:
        yield
    except Open311Error as exc:
        exc.fmt = fmt
        raise
    except AppError as exc:
        status = exc.instance_status
        spec_status = status if status in (400, 403, 404) or status >= 500 else 400
        details = [f"{e.field}: {e.reason}" for e in exc.errors] or [str(exc.detail or exc.title)]
        raise Open311Error(spec_status, "; ".join(details), fmt) from exc


def _check_jurisdiction(request: Request, jurisdiction_id: str | None, fmt: str) -> None:
    ours = request.app.state.settings.open311_jurisdiction_id
    if _given(jurisdiction_id) not in (None, ours):
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} was not found", fmt)


@router.get(
    "/discovery.{fmt}",
    summary="Service discovery",
    description="Where the GeoReport v2 endpoint is and which formats it speaks.",
    responses=_ERRORS,
)
async def discovery(request: Request, fmt: Fmt) -> Response:
    fmt = check_format(fmt)
    settings = request.app.state.settings
    changeset = "2026-11-23T00:00:00Z"
    return render(
        fmt,
        "discovery",
        {
            "changeset": changeset,
            "contact": settings.open311_contact,
            "key_service": settings.open311_key_service,
            "endpoints": [
                {
                    "specification": service.SPECIFICATION,
                    "url": settings.open311_base_url,
                    "changeset": changeset,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@router.get(
    "/services.{fmt}",
    summary="GET Service List",
    description="The categories residents and platforms can report, as GeoReport services. "
    "The public sees only categories whose `public_disclosure` is not `none` (docs/security.md, "
    '"Open311 disclosure policy"); a platform client whose `api_key` may submit requests '
    "(scope `open311`) sees every service it may file in.",
    responses=_ERRORS,
)
async def list_services(
    request: Request,
    fmt: Fmt,
    session: SessionDep,
    jurisdiction_id: Text = None,
    api_key: ApiKey = None,
) -> Response:
    fmt = check_format(fmt)
    with _as_open311(fmt):
        _check_jurisdiction(request, jurisdiction_id, fmt)
        reader = await _reader(request, api_key, fmt)
        return render(fmt, "services", await service.services(session, reader))


@router.get(
    "/services/{service_code}.{fmt}",
    summary="GET Service Definition",
    description="The extra attributes a service asks for, with the spec's datatypes. A service "
    "the public may not see (`public_disclosure: none`) is a 404 without a submitting "
    "platform client's `api_key`.",
    responses=_ERRORS,
)
async def service_definition(
    request: Request,
    service_code: str,
    fmt: Fmt,
    session: SessionDep,
    jurisdiction_id: Text = None,
    api_key: ApiKey = None,
) -> Response:
    fmt = check_format(fmt)
    with _as_open311(fmt):
        _check_jurisdiction(request, jurisdiction_id, fmt)
        reader = await _reader(request, api_key, fmt)
        category = await service.service_category(session, service_code, reader)
        if category is None:
            raise Open311Error(404, f"service_code {service_code!r} was not found", fmt)
        return render(fmt, "service_definition", service.definition_of(category))


async def _reader(request: Request, api_key: str | None, fmt: str) -> service.Reader:
    key = _given(api_key)
    if key is None:
        return service.PUBLIC
    reader: service.Reader = await request.app.state.open311_keys.reader(key, fmt)
    return reader


def _float(name: str, value: str | None, fmt: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a number", fmt) from exc


def _attributes(form: list[tuple[str, Any]], fmt: str) -> dict[str, Any]:
    """``attribute[code]=v`` and, for multivaluelist, ``attribute[code][]=v`` (repeated)."""
    out: dict[str, Any] = {}
    for key, value in form:
        if not key.startswith("attribute["):
            continue
        name = key[len("attribute[") :]
        many = name.endswith("][]")
        code = name[:-3] if many else name.rstrip("]")
        if not code or "[" in code or not isinstance(value, str):
            raise Open311Error(400, f"malformed attribute parameter {key!r}", fmt)
        if many:
            out.setdefault(code, []).append(value)
        elif value.strip():
            out[code] = value
    return out


@router.post(
    "/requests.{fmt}",
    status_code=201,
    summary="POST Service Request",
    description="Form-encoded. `api_key` (a platform client's key), `service_code`, a "
    "location (`lat` + `long`, or `address_string`), `description` (≤ 4,000 characters), "
    "`attribute[code]` for the service's attributes, optional `media_url`, `first_name`, "
    "`last_name`, `phone`, `email`, `device_id`, `account_id`. Answers 201 with "
    "`[{service_request_id, service_notice, account_id}]`.",
    responses=_ERRORS,
)
async def post_request(request: Request, fmt: Fmt) -> Response:
    fmt = check_format(fmt)
    form = await request.form()
    items = list(form.multi_items())
    values = {k: _given(v) if isinstance(v, str) else None for k, v in items}
    with _as_open311(fmt):
        _check_jurisdiction(request, values.get("jurisdiction_id"), fmt)
        api_key = values.get("api_key")
        if api_key is None:
            raise Open311Error(403, "api_key was not provided", fmt)
        owner = await request.app.state.open311_keys.owner(api_key, fmt)
        code = values.get("service_code")
        if code is None:
            raise Open311Error(400, "service_code was not provided", fmt)
        maker = request.app.state.sessionmaker
        async with maker() as session:
            category = await service.service_category(session, code)
        if category is None:
            raise Open311Error(404, f"service_code {code!r} was not found", fmt)
        lat, lng = _float("lat", values.get("lat"), fmt), _float("long", values.get("long"), fmt)
        address = values.get("address_string")
        if (lat is None) != (lng is None):
            raise Open311Error(400, "lat and long go together", fmt)
        if lat is None and address is None:
            raise Open311Error(400, "a location is required: lat and long, or address_string", fmt)
        if lat is not None and not (-90 <= lat <= 90 and -180 <= (lng or 0) <= 180):
            raise Open311Error(400, "lat/long out of range", fmt)
        description = values.get("description") or category.name
        if len(description) > 4000:
            raise Open311Error(400, "description is longer than 4,000 characters", fmt)
        name = " ".join(x for x in (values.get("last_name"), values.get("first_name")) if x)
        settings = request.app.state.settings
        client_id = str(owner["client_id"])
        principal = Principal(
            subject=client_id,
            roles=frozenset({Role.platform}),
            client_id=client_id,
            scopes=frozenset(owner.get("scopes", [])),
        )
        try:
            data = CaseCreate(
                category_code=code,
                channel=Channel.platform,
                description=description,
                location=LocationIn(lat=lat, lng=lng, address=address),
                reporter=ReporterIn(name=name[:50] or None, phone=values.get("phone")),
                attributes=_attributes(items, fmt),
                source=client_id,
                # GeoReport requests carry no id of the client's own: one of ours stands in.
                external_id=f"open311-{uuid.uuid4().hex}",
            )
        except ValidationError as exc:
            reasons = [
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise Open311Error(400, "; ".join(reasons), fmt) from exc
        # address_string alone: matched against the standard addresses; unmatched requests
        # wait (待定位) at the configured area
        located = await flows.locate(
            request.app.state.grid_client,
            principal,
            data,
            default_area=settings.open311_address_area_path or settings.intake_default_area_path,
        )
        async with maker() as session, session.begin():
            case, _ = await intake.create_case(
                session, principal=principal, data=data, located=located
            )
            session.add(
                Open311Request(
                    case_id=case.id,
                    client_id=client_id,
                    media_url=values.get("media_url"),
                    device_id=values.get("device_id"),
                    account_id=values.get("account_id"),
                )
            )
        notice = f"已受理登记，编号 {case.case_number}"
        return render(
            fmt,
            "service_requests",
            [
                {
                    "service_request_id": case.case_number,
                    "service_notice": notice,
                    "account_id": values.get("account_id") or "",
                }
            ],
            status=201,
        )


def _date(name: str, value: str | None, fmt: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a W3C datetime", fmt) from exc
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a time zone", fmt)
    return parsed


def _int(name: str, value: str | None, default: int, fmt: str, *, low: int, high: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise Open311Error(400, f"{name} must be a whole number from {low} to {high}", fmt)
    return int(value)


@router.get(
    "/requests.{fmt}",
    summary="GET Service Requests",
    description="`service_request_id` (comma-separated; when given the other filters are "
    "ignored), `service_code` (comma-separated), `start_date`/`end_date` (W3C, at most 90 "
    "days apart; by default the last 90 days), `status` (open, closed or both), `page` and "
    "`page_size` (default 1,000), `extensions=true` for the detailed status "
    "(`extended_attributes.detailed_status`; the internal fields `case_id`, `priority`, "
    "`handling_level`, `area_path`, `channel` only with an `api_key` whose client has the scope "
    "`open311:extensions`)." + POLICY,
    responses=_ERRORS,
)
async def list_requests(
    request: Request,
    fmt: Fmt,
    session: SessionDep,
    jurisdiction_id: Text = None,
    service_request_id: Text = None,
    service_code: Text = None,
    start_date: Text = None,
    end_date: Text = None,
    status: Text = None,
    page: Text = None,
    page_size: Text = None,
    extensions: Text = None,
    api_key: ApiKey = None,
) -> Response:
    fmt = check_format(fmt)
    with _as_open311(fmt):
        _check_jurisdiction(request, jurisdiction_id, fmt)
        reader = await _reader(request, api_key, fmt)
        levels = await service.disclosure_levels(session)
        stmt = sa.select(Case).where(service.visible_clause(levels, reader))
        ids = _given(service_request_id)
        size = _int("page_size", _given(page_size), DEFAULT_LIMIT, fmt, low=1, high=1000)
        number = _int("page", _given(page), 1, fmt, low=1, high=100_000)
        if ids:
            stmt = stmt.where(col(Case.case_number).in_([i.strip() for i in ids.split(",")]))
        else:
            start = _date("start_date", _given(start_date), fmt)
            end = _date("end_date", _given(end_date), fmt)
            if start and end and end < start:
                raise Open311Error(400, "end_date is before start_date", fmt)
            if start and end and end - start > MAX_WINDOW:
                raise Open311Error(400, "start_date and end_date are more than 90 days apart", fmt)
            if start is None and end is None:
                end = utcnow()
            if start is None:
                start = (end or utcnow()) - MAX_WINDOW
            if end is None:
                end = start + MAX_WINDOW
            stmt = stmt.where(col(Case.created_at) >= start, col(Case.created_at) <= end)
            codes = _given(service_code)
            if codes:
                stmt = stmt.where(
                    col(Case.category_code).in_([c.strip() for c in codes.split(",") if c.strip()])
                )
            wanted = {s.strip() for s in (_given(status) or "").split(",") if s.strip()}
            if wanted - {"open", "closed"}:
                raise Open311Error(400, "status must be open, closed or both", fmt)
            if wanted == {"open"}:
                stmt = stmt.where(col(Case.status).not_in(service.CLOSED))
            elif wanted == {"closed"}:
                stmt = stmt.where(col(Case.status).in_(service.CLOSED))
        stmt = stmt.order_by(col(Case.created_at).desc(), col(Case.id).desc())
        stmt = stmt.limit(size).offset((number - 1) * size)
        cases = list((await session.execute(stmt)).scalars().all())
        body = await service.requests_of(
            session,
            cases,
            extensions=_given(extensions) == "true",
            reader=reader,
            levels=levels,
            lang=request_lang(request),
        )
        return render(fmt, "service_requests", body)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    description="One request by its `service_request_id` (our case number), as a list of one; "
    "a request the caller may not see is a 404, the same as an unknown one." + POLICY,
    responses=_ERRORS,
)
async def get_request(
    request: Request,
    service_request_id: str,
    fmt: Fmt,
    session: SessionDep,
    jurisdiction_id: Text = None,
    extensions: Text = None,
    api_key: ApiKey = None,
) -> Response:
    fmt = check_format(fmt)
    with _as_open311(fmt):
        _check_jurisdiction(request, jurisdiction_id, fmt)
        reader = await _reader(request, api_key, fmt)
        levels = await service.disclosure_levels(session)
        case = (
            await session.execute(
                sa.select(Case).where(
                    col(Case.case_number) == service_request_id,
                    service.visible_clause(levels, reader),
                )
            )
        ).scalar_one_or_none()
        body = (
            []
            if case is None
            else await service.requests_of(
                session,
                [case],
                extensions=_given(extensions) == "true",
                reader=reader,
                levels=levels,
                lang=request_lang(request),
            )
        )
        if not body:  # unknown, or hidden by the policy: the same answer
            raise Open311Error(404, f"service_request_id {service_request_id!r} was not found", fmt)
        return render(fmt, "service_requests", body)


__all__ = ["UTC", "router"]
