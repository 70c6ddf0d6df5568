"""Our categories and cases as GeoReport v2 services and service requests.

* services are the current, active 小类 (a category with a parent); ``group`` is the 大类's
  name; ``metadata`` is true when the category asks for attributes;
* our statuses map to ``open``/``closed`` (closed: closed, rejected, voided, merged); the
  detailed status is in ``extended_attributes`` when the client asks ``extensions=true``
  (the FixMyStreet/SeeClickFix convention);
* ``expected_datetime`` is the running resolution deadline (case_service.sla) or, before
  acceptance, the one the time-limit policy promises (``sla.service.expected_resolution``);
* ``agency_responsible`` is the departments handling it, else the level (street, community …)
  handling it.

What a reader sees is the disclosure policy (docs/security.md, "Open311 disclosure policy"):

* each category's ``public_disclosure`` — ``public``, ``summary`` or ``none`` — capped by its
  大类's; a ``none`` service is not listed and its requests are not shown (a request asked for
  by id is "not found"); anonymous reports are never shown;
* ``summary``: the description redacted (``redaction``), the point rounded to
  ``POINT_DECIMALS`` decimals (~100 m), the grid's name for the address, no photo;
  ``public``: the exact point, the address and the photo, the description still redacted;
* ``status_notes`` is the case's public reply (公开答复, ``case.public_reply``), redacted —
  never the internal result or the reasons on the timeline;
* ``extended_attributes`` (``extensions=true``) holds ``detailed_status`` for everyone and the
  internal fields (``case_id``, ``priority``, ``handling_level``, ``area_path``, ``channel``)
  only for a platform client whose api_key has the scope ``open311:extensions``;
* a platform client (its ``api_key`` given) sees the requests it handed in itself
  (``case.source`` is its client id) in full — original description, exact point, whatever the
  category — as it does through the REST API.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases.models import Case
from case_service.categories.models import Category
from case_service.categories.schemas import Disclosure
from case_service.open311.formats import Open311Error
from case_service.open311.models import Open311Request
from case_service.open311.redaction import redact
from case_service.sla import service as sla_service
from shared.i18n import Lang
from shared.oauth import ClientCredentials

CLOSED = {"closed", "rejected", "voided", "merged"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: decimals of a ``summary`` request's point: 0.001° is 111 m of latitude (~96 m of longitude
#: at 30°N), so the point says the block, not the door
POINT_DECIMALS = 3
#: the platform-client scope that unlocks the internal extension fields
EXTENSIONS_SCOPE = "open311:extensions"
#: the scope of a platform client that submits requests (it may see every service)
SUBMIT_SCOPE = "open311"
_RANK = {Disclosure.none: 0, Disclosure.summary: 1, Disclosure.public: 2}


@dataclass(frozen=True)
class Reader:
    """Who reads the feed: the public (no ``api_key``) or a platform client it identifies."""

    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def internal_extensions(self) -> bool:
        return self.client_id is not None and EXTENSIONS_SCOPE in self.scopes

    @property
    def submits(self) -> bool:
        return self.client_id is not None and SUBMIT_SCOPE in self.scopes

    def owns(self, case: Case) -> bool:
        return self.client_id is not None and case.source == self.client_id


PUBLIC = Reader()


def effective_levels(rows: list[Category]) -> dict[str, Disclosure]:
    """Each current category's level, capped by its 大类's (a 小类 never shows more)."""
    own = {c.code: Disclosure(c.public_disclosure) for c in rows}
    out: dict[str, Disclosure] = {}
    for c in rows:
        level = own[c.code]
        if c.parent_code is not None:
            parent = own.get(c.parent_code, Disclosure.none)
            level = min(level, parent, key=_RANK.__getitem__)
        out[c.code] = level
    return out


async def disclosure_levels(session: AsyncSession) -> dict[str, Disclosure]:
    rows = list(
        (await session.execute(sa.select(Category).where(col(Category.is_current)))).scalars()
    )
    return effective_levels(rows)


def visible_clause(levels: dict[str, Disclosure], reader: Reader) -> sa.ColumnElement[bool]:
    """The cases ``reader`` may see on the feed: not anonymous, in a category that is not
    ``none`` — or handed in by the reader itself."""
    shown = sorted(code for code, level in levels.items() if level is not Disclosure.none)
    clause: sa.ColumnElement[bool] = sa.and_(
        col(Case.category_code).in_(shown), sa.not_(col(Case.anonymous))
    )
    if reader.client_id is not None:
        clause = sa.or_(clause, col(Case.source) == reader.client_id)
    return clause


def w3c(moment: datetime | None) -> str | None:
    """W3C datetime with an explicit offset (the spec requires the time zone)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_or_closed(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def service_of(category: Category, groups: dict[str, str]) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description or category.name,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": category.kind,
        "group": groups.get(category.parent_code or "", ""),
    }


def definition_of(category: Category) -> dict[str, Any]:
    attributes = []
    for spec in sorted(category.attributes or [], key=lambda a: a.get("order", 0)):
        item: dict[str, Any] = {
            "variable": True,
            "code": spec["code"],
            "datatype": spec["datatype"],
            "required": bool(spec.get("required")),
            "datatype_description": spec.get("datatype_description") or "",
            "order": spec.get("order", 0),
            "description": spec.get("name", spec["code"]),
        }
        if spec["datatype"] in {"singlevaluelist", "multivaluelist"}:
            item["values"] = [
                {"key": v["key"], "name": v["name"]} for v in spec.get("values") or []
            ]
        attributes.append(item)
    return {"service_code": category.code, "attributes": attributes}


async def services(session: AsyncSession, reader: Reader = PUBLIC) -> list[dict[str, Any]]:
    """The current active 小类; to the public only those whose level is not ``none`` (a client
    that submits requests sees them all: it may file in any of them)."""
    rows = (
        (
            await session.execute(
                sa.select(Category)
                .where(col(Category.is_current), col(Category.active))
                .order_by(col(Category.code))
            )
        )
        .scalars()
        .all()
    )
    levels = await disclosure_levels(session)
    groups = {c.code: c.name for c in rows if c.parent_code is None}
    return [
        service_of(c, groups)
        for c in rows
        if c.parent_code is not None
        and (reader.submits or levels.get(c.code, Disclosure.none) is not Disclosure.none)
    ]


async def service_category(
    session: AsyncSession, code: str, reader: Reader | None = None
) -> Category | None:
    """The service ``code``; with a ``reader`` that does not submit, ``None`` for a service
    the policy hides from it (the same answer as an unknown code)."""
    category = (
        await session.execute(
            sa.select(Category).where(
                col(Category.code) == code,
                col(Category.is_current),
                col(Category.active),
                col(Category.parent_code).is_not(None),
            )
        )
    ).scalar_one_or_none()
    if category is None or reader is None or reader.submits:
        return category
    level = (await disclosure_levels(session)).get(code, Disclosure.none)
    return None if level is Disclosure.none else category


def _point(value: float | None, level: Disclosure) -> float | None:
    if value is None or level is Disclosure.public:
        return value
    return round(value, POINT_DECIMALS)


async def requests_of(
    session: AsyncSession,
    cases: list[Case],
    *,
    extensions: bool,
    reader: Reader = PUBLIC,
    levels: dict[str, Disclosure] | None = None,
    lang: Lang = "zh",
) -> list[dict[str, Any]]:
    """GeoReport request bodies for ``cases`` as ``reader`` may see them (three queries
    whatever their number). ``cases`` are already filtered by ``visible_clause``; one the
    policy hides is left out here too."""
    if levels is None:
        levels = await disclosure_levels(session)
    ids = [c.id for c in cases]
    expected = await sla_service.expected_resolution(session, cases)
    extra: dict[uuid.UUID, Open311Request] = {}
    if ids:
        for row in (
            await session.execute(
                sa.select(Open311Request).where(col(Open311Request.case_id).in_(ids))
            )
        ).scalars():
            extra[row.case_id] = row
    out = []
    for case in cases:
        level_name = next(
            (
                e.get("name")
                for e in case.area_chain or []
                if e.get("path") == case.handling_area_path
            ),
            None,
        )
        sent = extra.get(case.id)
        media_url = (sent.media_url if sent else None) or ""
        own = reader.owns(case)
        if own:
            level = Disclosure.public
            description = case.description
            address = case.address or ""
        else:
            level = levels.get(case.category_code, Disclosure.none)
            if level is Disclosure.none or case.anonymous:
                continue  # the query filters these out already (visible_clause); never shown
            description = redact(case.description, lang)
            if level is Disclosure.public:
                address = redact(case.address, lang)
            else:
                address = case.area_name or ""
                media_url = ""
        item: dict[str, Any] = {
            "service_request_id": case.case_number,
            "status": open_or_closed(case.status),
            "status_notes": redact(case.public_reply, lang),
            "service_name": case.category_name,
            "service_code": case.category_code,
            "description": description,
            "agency_responsible": ", ".join(case.department_ids) or level_name or "",
            "service_notice": "",
            "requested_datetime": w3c(case.created_at),
            "updated_datetime": w3c(case.updated_at),
            "expected_datetime": w3c(expected.get(case.id)),
            "address": address,
            "address_id": "",
            "zipcode": "",
            "lat": _point(case.lat, level),
            "long": _point(case.lng, level),
            "media_url": media_url,
        }
        if extensions:
            attributes: dict[str, Any] = {"detailed_status": case.status}
            if reader.internal_extensions:
                attributes |= {
                    "case_id": str(case.id),
                    "priority": case.priority,
                    "handling_level": case.handling_level or "",
                    "area_path": case.area_path,
                    "channel": case.channel,
                }
            item["extended_attributes"] = attributes
        out.append(item)
    return out


class ApiKeys:
    """api_key → platform client, asked of grid_service and remembered for a minute."""

    def __init__(self, credentials: ClientCredentials, ttl_seconds: float = 60) -> None:
        self.credentials = credentials
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def owner(self, api_key: str, fmt: str) -> dict[str, Any]:
        """The client of a key that may submit requests (scope ``open311``); 403 otherwise."""
        owner = await self.identify(api_key, fmt)
        if SUBMIT_SCOPE not in owner.get("scopes", []):
            raise Open311Error(403, "api_key is not allowed to submit service requests", fmt)
        return owner

    async def reader(self, api_key: str | None, fmt: str) -> Reader:
        """Who reads the feed: the public without a key; the key's client with one (an
        unknown key is a 403, as the specification says)."""
        if api_key is None:
            return PUBLIC
        owner = await self.identify(api_key, fmt)
        return Reader(client_id=str(owner["client_id"]), scopes=frozenset(owner.get("scopes", [])))

    async def identify(self, api_key: str, fmt: str) -> dict[str, Any]:
        """The platform client of ``api_key``, asked of grid_service; 403 for an unknown key."""
        hit = self._cache.get(api_key)
        if hit is not None and hit[0] > time.monotonic():
            owner = hit[1]
        else:
            response = await self.credentials.request(
                "POST",
                "/api/v1/platform-clients/verify-api-key",
                json={"api_key": api_key},
                retry=True,  # a lookup: safe to repeat
            )
            if response.status_code == 200:
                owner = response.json()
            elif response.status_code in (404, 422):
                owner = None
            else:
                raise Open311Error(503, "The key service is unavailable; try again later", fmt)
            self._cache[api_key] = (time.monotonic() + self.ttl, owner)
        if owner is None:
            raise Open311Error(403, "api_key is invalid", fmt)
        return owner
