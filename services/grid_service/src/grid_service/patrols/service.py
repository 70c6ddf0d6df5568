"""Patrol rules: who may start and upload, idempotent batches, distance and daily coverage.
Flushes, never commits."""

from __future__ import annotations

import itertools
import math
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from grid_service.basicinfo import repository as basicinfo_repository
from grid_service.basicinfo.models import KeyPlace
from grid_service.basicinfo.service import area_in_scope, invalid
from grid_service.patrols import repository
from grid_service.patrols.models import Patrol, PatrolCheckIn, PatrolFinding, PatrolTrackPoint
from grid_service.patrols.schemas import (
    Coverage,
    GridCoverage,
    PatrolStart,
    PatrolUpload,
    UploadCounts,
    UploadResult,
    WorkerCoverage,
)
from grid_service.scope import ensure_covers
from shared.auth import Principal
from shared.db import utcnow
from shared.problem import Conflict, Forbidden, NotFound

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def track_length_m(points: list[tuple[float, float]]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))


def day_bounds(on: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(on, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


async def start(
    session: AsyncSession, principal: Principal, body: PatrolStart
) -> tuple[Patrol, bool]:
    """The patrol, and whether it is new (a retried start returns the stored one)."""
    existing = await repository.get(session, body.id)
    if existing is not None:
        if existing.worker_id != principal.subject or existing.area_id != body.area_id:
            raise Conflict("This patrol id is taken", code="patrol_id_taken")
        return existing, False
    area = await area_in_scope(session, principal, body.area_id)
    patrol = Patrol(
        id=body.id,
        area_id=area.id,
        area_path=area.path,
        worker_id=principal.subject,
        worker_name=principal.name,
        started_at=body.started_at,
    )
    session.add(patrol)
    await session.flush()
    return patrol, True


async def own_patrol(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID, *, lock: bool = False
) -> Patrol:
    patrol = await repository.get(session, patrol_id, lock=lock)
    if patrol is None:
        raise NotFound(f"No patrol {patrol_id}", code="patrol_not_found")
    if patrol.worker_id != principal.subject:
        raise Forbidden("Only the worker on this patrol may change it", code="not_your_patrol")
    return patrol


async def visible_patrol(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID
) -> Patrol:
    patrol = await repository.get(session, patrol_id)
    if patrol is None:
        raise NotFound(f"No patrol {patrol_id}", code="patrol_not_found")
    if patrol.worker_id != principal.subject:
        ensure_covers(principal, [patrol.area_path], what="patrol")
    return patrol


async def upload(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID, body: PatrolUpload
) -> UploadResult:
    """Store a batch; rows whose id is already stored are skipped (ON CONFLICT DO NOTHING), so
    a batch retried after a lost answer, or overlapping the previous one, adds nothing twice."""
    patrol = await own_patrol(session, principal, patrol_id, lock=True)  # one batch at a time
    batches: list[tuple[str, type[SQLModel], list[uuid.UUID]]] = [
        ("track_points", PatrolTrackPoint, [p.id for p in body.track_points]),
        ("check_ins", PatrolCheckIn, [c.id for c in body.check_ins]),
        ("findings", PatrolFinding, [f.id for f in body.findings]),
    ]
    for name, model, ids in batches:
        taken = await repository.owners(session, model, ids)
        for index, row_id in enumerate(ids):
            if taken.get(row_id, patrol.id) != patrol.id:
                raise invalid(f"{name}.{index}.id", "this id belongs to another patrol")
    for index, check_in in enumerate(body.check_ins):
        place = await basicinfo_repository.get(session, KeyPlace, check_in.key_place_id)
        if place is None or not (
            place.area_path == patrol.area_path
            or place.area_path.startswith(patrol.area_path + ".")
        ):
            raise invalid(
                f"check_ins.{index}.key_place_id",
                "no such key place in the patrolled grid",
                code="key_place_not_found",
            )
    points = await repository.insert_new(
        session,
        PatrolTrackPoint,
        [{**p.model_dump(), "patrol_id": patrol.id} for p in body.track_points],
    )
    check_ins = await repository.insert_new(
        session,
        PatrolCheckIn,
        [{**c.model_dump(), "patrol_id": patrol.id} for c in body.check_ins],
    )
    findings = await repository.insert_new(
        session,
        PatrolFinding,
        [
            {
                **f.model_dump(mode="python"),
                "outcome": f.outcome.value,
                "patrol_id": patrol.id,
                "case_linked_at": utcnow() if f.case_id else None,
            }
            for f in body.findings
        ],
    )
    if points:
        track = await repository.track(session, patrol.id)
        patrol.distance_m = round(track_length_m(track), 1)
        patrol.track_point_count = len(track)
        session.add(patrol)
        await session.flush()
    return UploadResult(
        stored=UploadCounts(track_points=points, check_ins=check_ins, findings=findings),
        duplicates=UploadCounts(
            track_points=len(body.track_points) - points,
            check_ins=len(body.check_ins) - check_ins,
            findings=len(body.findings) - findings,
        ),
        distance_m=patrol.distance_m,
        track_point_count=patrol.track_point_count,
    )


async def end(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID, ended_at: datetime
) -> Patrol:
    patrol = await own_patrol(session, principal, patrol_id, lock=True)
    if patrol.ended_at is not None:
        if patrol.ended_at == ended_at:
            return patrol  # a retried end
        raise Conflict("This patrol has already ended", code="patrol_ended")
    if ended_at < patrol.started_at:
        raise invalid("ended_at", "before the patrol started")
    patrol.ended_at = ended_at
    session.add(patrol)
    await session.flush()
    return patrol


async def link_case(
    session: AsyncSession,
    principal: Principal,
    patrol_id: uuid.UUID,
    finding_id: uuid.UUID,
    case_id: str,
) -> PatrolFinding:
    await own_patrol(session, principal, patrol_id)
    found = await repository.finding(session, patrol_id, finding_id)
    if found is None:
        raise NotFound(f"No finding {finding_id} on this patrol", code="finding_not_found")
    if found.outcome != "reported":
        raise Conflict("This finding was resolved on the spot", code="finding_resolved")
    if found.case_id is not None and found.case_id != case_id:
        raise Conflict("This finding is linked to another case", code="finding_linked")
    if found.case_id is None:
        found.case_id = case_id
        found.case_linked_at = utcnow()
        session.add(found)
        await session.flush()
    return found


async def coverage(session: AsyncSession, *, area_path: str, on: date, tz: str) -> Coverage:
    """Which grids under ``area_path`` were patrolled on ``on`` (local day), by whom, how far and
    how long; the others are listed as not patrolled."""
    start_at, end_at = day_bounds(on, tz)
    grids = await repository.grids_under(session, area_path)
    patrols = await repository.patrols_between(session, area_path, start_at, end_at)
    now = utcnow()
    per: dict[str, dict[str, WorkerCoverage]] = defaultdict(dict)
    for patrol in patrols:
        grid = next(
            (
                g
                for g in grids
                if patrol.area_path == g.path or patrol.area_path.startswith(g.path + ".")
            ),
            None,
        )
        if grid is None:
            continue
        finish = patrol.ended_at or min(now, end_at)
        seconds = max(0, int((finish - patrol.started_at).total_seconds()))
        worker = per[grid.path].get(patrol.worker_id)
        if worker is None:
            worker = WorkerCoverage(
                worker_id=patrol.worker_id,
                worker_name=patrol.worker_name,
                patrols=0,
                distance_m=0.0,
                duration_s=0,
            )
            per[grid.path][patrol.worker_id] = worker
        worker.patrols += 1
        worker.distance_m = round(worker.distance_m + patrol.distance_m, 1)
        worker.duration_s += seconds
    items = [
        GridCoverage(
            area_id=g.id,
            code=g.code,
            name=g.name,
            path=g.path,
            patrolled=g.path in per,
            workers=sorted(per.get(g.path, {}).values(), key=lambda w: w.worker_id),
        )
        for g in grids
    ]
    done = sum(1 for i in items if i.patrolled)
    return Coverage(
        on=on, area_path=area_path, patrolled=done, not_patrolled=len(items) - done, grids=items
    )
