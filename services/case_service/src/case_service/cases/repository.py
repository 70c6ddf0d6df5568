"""Every query on cases, assignments and the timeline."""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases.access import subtree
from case_service.cases.lifecycle import OPEN
from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from shared import db

EARTH_RADIUS_M = 6_371_000.0


async def get(session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
    stmt = sa.select(Case).where(col(Case.id) == case_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_external(session: AsyncSession, source: str, external_id: str) -> Case | None:
    stmt = sa.select(Case).where(col(Case.source) == source, col(Case.external_id) == external_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def next_case_number(session: AsyncSession, today: datetime) -> str:
    seq = (await session.execute(sa.text("SELECT nextval('case_number_seq')"))).scalar_one()
    return f"{today:%Y%m%d}{int(seq):06d}"


async def assignments(session: AsyncSession, case_id: uuid.UUID) -> list[CaseAssignment]:
    stmt = (
        sa.select(CaseAssignment)
        .where(col(CaseAssignment.case_id) == case_id)
        .order_by(col(CaseAssignment.assigned_at), col(CaseAssignment.id))
    )
    return list((await session.execute(stmt)).scalars().all())


async def timeline(
    session: AsyncSession, case_id: uuid.UUID, *, public_only: bool
) -> list[TimelineEntry]:
    stmt = sa.select(TimelineEntry).where(col(TimelineEntry.case_id) == case_id)
    if public_only:
        stmt = stmt.where(col(TimelineEntry.visibility) == "public")
    stmt = stmt.order_by(col(TimelineEntry.created_at), col(TimelineEntry.case_version))
    return list((await session.execute(stmt)).scalars().all())


async def merged_cases(session: AsyncSession, master_id: uuid.UUID) -> list[Case]:
    """Cases merged into ``master_id`` (index ``ix_case_merged_into_id``)."""
    stmt = (
        sa.select(Case)
        .where(col(Case.merged_into_id) == master_id)
        .order_by(col(Case.created_at), col(Case.id))
    )
    return list((await session.execute(stmt)).scalars().all())


_SUPPORTERS = (
    sa.select(col(Case.merged_into_id), col(Case.reporter_account_id))
    .where(
        col(Case.merged_into_id) == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))),
        col(Case.reporter_account_id).is_not(None),
        col(Case.anonymous).is_(False),
    )
    .order_by(col(Case.merged_into_id), col(Case.created_at), col(Case.id))
)


async def supporters_of(
    session: AsyncSession, master_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """For each of ``master_ids``, the reporters who may be named of the cases merged into it
    (what :func:`merged_cases` gives ``outbox.service.record_event``), in one query: ids bound
    as one array, so the statement is the same for any number of masters."""
    out: dict[uuid.UUID, list[str]] = {}
    for master_id, reporter in await session.execute(_SUPPORTERS, {"ids": master_ids}):
        if master_id is not None and reporter is not None:  # so the query says; for mypy
            out.setdefault(master_id, []).append(reporter)
    return out


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(slots=True)
class NearbyCase:
    """What the duplicate check reads of a case nearby: enough for a merge candidate's
    summary (``CaseSummary``), the visibility check (``access.can_see``) and a resident's
    similar reports (``support``), without loading the whole row."""

    id: uuid.UUID
    case_number: str
    status: str
    category_code: str
    title: str
    area_path: str
    location_status: str
    priority: str
    requested_priority: str | None
    requested_major: bool
    created_at: datetime
    reporter_account_id: str | None
    reported_by_account_id: str
    anonymous: bool
    assignee_account_ids: list[str]
    department_ids: list[str]
    source: str | None
    support_count: int


_NEARBY_COLUMNS = [col(getattr(Case, f)) for f in NearbyCase.__slots__]


@functools.cache
def _nearby_statement(exclude: bool) -> db.Prepared:
    """The duplicate check's query, built once with bound parameters (see find_duplicates)."""
    c_lat, c_lng = col(Case.lat), col(Case.lng)
    half_dp = (sa.func.radians(c_lat) - sa.bindparam("lat_rad", type_=sa.Float())) / 2
    half_dl = (sa.func.radians(c_lng) - sa.bindparam("lng_rad", type_=sa.Float())) / 2
    haversine = sa.func.power(sa.func.sin(half_dp), 2) + sa.bindparam(
        "cos_lat", type_=sa.Float()
    ) * sa.func.cos(sa.func.radians(c_lat)) * sa.func.power(sa.func.sin(half_dl), 2)
    stmt = (
        sa.select(*_NEARBY_COLUMNS)
        .where(
            col(Case.category_code) == sa.bindparam("category_code", type_=sa.String()),
            col(Case.created_at) >= sa.bindparam("since", type_=sa.DateTime(timezone=True)),
            # the open statuses as literals, so a generic plan can still use the partial index
            col(Case.status).in_([sa.literal_column(f"'{s.value}'") for s in OPEN]),
            c_lat.between(sa.bindparam("lat_min"), sa.bindparam("lat_max")),
            c_lng.between(sa.bindparam("lng_min"), sa.bindparam("lng_max")),
            haversine <= sa.bindparam("bound", type_=sa.Float()),
        )
        .order_by(col(Case.created_at).desc())
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    if exclude:
        stmt = stmt.where(col(Case.id) != sa.bindparam("exclude_id", type_=sa.Uuid()))
    return db.Prepared(stmt)


async def find_duplicates(
    session: AsyncSession,
    *,
    category_code: str,
    lat: float,
    lng: float,
    radius_m: int,
    since: datetime,
    exclude_id: uuid.UUID | None = None,
    limit: int = 10,
) -> list[NearbyCase]:
    """Open cases of one category within ``radius_m`` of a point, created after ``since``,
    newest first (index ``ix_case_duplicate_lookup``: the category's open cases in a bounding
    box; then the haversine distance — in SQL, so only the ``limit`` rows returned are read),
    with the columns of :class:`NearbyCase`."""
    dlat = radius_m / 111_320.0
    dlng = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    # distance_m() <= radius_m, rearranged so the database compares a plain number:
    # 2·R·asin(√h) <= r  ⇔  h <= sin(r / 2R)²  (0 <= r/2R <= π/2)
    params: dict[str, Any] = {
        "category_code": category_code,
        "since": since,
        "lat_min": lat - dlat,
        "lat_max": lat + dlat,
        "lng_min": lng - dlng,
        "lng_max": lng + dlng,
        "lat_rad": math.radians(lat),
        "lng_rad": math.radians(lng),
        "cos_lat": math.cos(math.radians(lat)),
        "bound": math.sin(min(radius_m / (2 * EARTH_RADIUS_M), math.pi / 2)) ** 2,
        "limit": limit,
    }
    if exclude_id is not None:
        params["exclude_id"] = exclude_id
    result = await _nearby_statement(exclude_id is not None).run(session, params)
    return [NearbyCase(*row) for row in result]  # type: ignore[call-arg]  # columns in field order


@dataclass
class CaseFilters:
    status: list[str] | None = None
    category_code: str | None = None
    area_path: str | None = None
    assignee: str | None = None
    department_id: str | None = None
    priority: str | None = None
    channel: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None
    reporter_account_id: str | None = None
    reporter_phone_hash: str | None = None
    ids: list[uuid.UUID] | None = None
    location_status: str | None = None


def list_statement(
    filters: CaseFilters, *, scope: sa.ColumnElement[bool] | None, now: datetime
) -> sa.Select[Any]:
    """The filtered (not yet ordered) list query; every filter has an index."""
    stmt = sa.select(Case)
    if scope is not None:
        stmt = stmt.where(scope)
    f = filters
    if f.ids:
        stmt = stmt.where(col(Case.id).in_(f.ids))
    if f.status:
        stmt = stmt.where(col(Case.status).in_(f.status))
    if f.category_code:
        stmt = stmt.where(col(Case.category_code) == f.category_code)
    if f.area_path:
        stmt = stmt.where(subtree(col(Case.area_path), f.area_path))
    if f.assignee:
        stmt = stmt.where(col(Case.assignee_account_ids).contains([f.assignee]))
    if f.department_id:
        stmt = stmt.where(col(Case.department_ids).contains([f.department_id]))
    if f.priority:
        stmt = stmt.where(col(Case.priority) == f.priority)
    if f.channel:
        stmt = stmt.where(col(Case.channel) == f.channel)
    if f.overdue is True:
        stmt = stmt.where(col(Case.due_at) < now, col(Case.status).in_([s.value for s in OPEN]))
    elif f.overdue is False:
        stmt = stmt.where(
            sa.or_(
                col(Case.due_at).is_(None),
                col(Case.due_at) >= now,
                col(Case.status).not_in([s.value for s in OPEN]),
            )
        )
    if f.created_from:
        stmt = stmt.where(col(Case.created_at) >= f.created_from)
    if f.created_to:
        stmt = stmt.where(col(Case.created_at) < f.created_to)
    if f.updated_from:
        stmt = stmt.where(col(Case.updated_at) >= f.updated_from)
    if f.updated_to:
        stmt = stmt.where(col(Case.updated_at) < f.updated_to)
    if f.q:
        escaped = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(col(Case.description).like(f"%{escaped}%", escape="\\"))
    if f.reporter_account_id:
        stmt = stmt.where(col(Case.reporter_account_id) == f.reporter_account_id)
    if f.reporter_phone_hash:
        stmt = stmt.where(col(Case.reporter_phone_hash) == f.reporter_phone_hash)
    if f.location_status:
        stmt = stmt.where(col(Case.location_status) == f.location_status)
    return stmt
