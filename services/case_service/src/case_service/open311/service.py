"""Our categories and cases as GeoReport v2 services and service requests.

* services are the current, active 小类 (a category with a parent); ``group`` is the 大类's
  name; ``metadata`` is true when the category asks for attributes;
* our statuses map to ``open``/``closed`` (closed: closed, rejected, voided, merged); the
  detailed status is in ``extended_attributes`` when the client asks ``extensions=true``
  (the FixMyStreet/SeeClickFix convention);
* ``expected_datetime`` is the running resolution deadline (case_service.sla);
* ``status_notes`` is the newest public note on the timeline; ``agency_responsible`` the
  departments handling it, else the level (street, community …) handling it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases.models import Case, TimelineEntry
from case_service.categories.models import Category
from case_service.open311.formats import Open311Error
from case_service.open311.models import Open311Request
from case_service.sla.models import CaseDeadline
from shared.oauth import ClientCredentials

CLOSED = {"closed", "rejected", "voided", "merged"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


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


async def services(session: AsyncSession) -> list[dict[str, Any]]:
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
    groups = {c.code: c.name for c in rows if c.parent_code is None}
    return [service_of(c, groups) for c in rows if c.parent_code is not None]


async def service_category(session: AsyncSession, code: str) -> Category | None:
    return (
        await session.execute(
            sa.select(Category).where(
                col(Category.code) == code,
                col(Category.is_current),
                col(Category.active),
                col(Category.parent_code).is_not(None),
            )
        )
    ).scalar_one_or_none()


async def requests_of(
    session: AsyncSession, cases: list[Case], *, extensions: bool
) -> list[dict[str, Any]]:
    """GeoReport request bodies for ``cases`` (three queries whatever their number)."""
    ids = [c.id for c in cases]
    expected: dict[uuid.UUID, datetime] = {}
    notes: dict[uuid.UUID, str] = {}
    extra: dict[uuid.UUID, Open311Request] = {}
    if ids:
        for case_id, due in (
            await session.execute(
                sa.select(col(CaseDeadline.case_id), sa.func.min(col(CaseDeadline.due_at)))
                .where(
                    col(CaseDeadline.case_id).in_(ids),
                    col(CaseDeadline.kind) == "resolve",
                    col(CaseDeadline.status).in_(("open", "paused")),
                )
                .group_by(col(CaseDeadline.case_id))
            )
        ).all():
            expected[case_id] = due
        latest = (
            sa.select(
                col(TimelineEntry.case_id),
                col(TimelineEntry.reason),
                sa.func.row_number()
                .over(
                    partition_by=col(TimelineEntry.case_id),
                    order_by=col(TimelineEntry.created_at).desc(),
                )
                .label("n"),
            )
            .where(
                col(TimelineEntry.case_id).in_(ids),
                col(TimelineEntry.visibility) == "public",
                col(TimelineEntry.reason).is_not(None),
            )
            .subquery()
        )
        for case_id, reason in (
            await session.execute(
                sa.select(latest.c.case_id, latest.c.reason).where(latest.c.n == 1)
            )
        ).all():
            notes[case_id] = reason
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
        item: dict[str, Any] = {
            "service_request_id": case.case_number,
            "status": open_or_closed(case.status),
            "status_notes": notes.get(case.id) or "",
            "service_name": case.category_name,
            "service_code": case.category_code,
            "description": case.description,
            "agency_responsible": ", ".join(case.department_ids) or level_name or "",
            "service_notice": "",
            "requested_datetime": w3c(case.created_at),
            "updated_datetime": w3c(case.updated_at),
            "expected_datetime": w3c(expected.get(case.id)),
            "address": case.address or "",
            "address_id": "",
            "zipcode": "",
            "lat": case.lat,
            "long": case.lng,
            "media_url": (sent.media_url if sent else None) or "",
        }
        if extensions:
            item["extended_attributes"] = {
                "detailed_status": case.status,
                "case_id": str(case.id),
                "priority": case.priority,
                "handling_level": case.handling_level or "",
                "area_path": case.area_path,
                "channel": case.channel,
            }
        out.append(item)
    return out


class ApiKeys:
    """api_key → platform client, asked of grid_service and remembered for a minute."""

    def __init__(self, credentials: ClientCredentials, ttl_seconds: float = 60) -> None:
        self.credentials = credentials
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def owner(self, api_key: str, fmt: str) -> dict[str, Any]:
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
        if "open311" not in owner.get("scopes", []):
            raise Open311Error(403, "api_key is not allowed to submit service requests", fmt)
        return owner
