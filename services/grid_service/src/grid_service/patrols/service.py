"""Patrol rules: who may start and upload, idempotent batches, distance and daily coverage.
Flushes, never commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from grid_service.basicinfo import repository as basicinfo_repository
from grid_service.basicinfo.models import KeyPlace
from grid_service.basicinfo.service import area_in_scope, invalid
from grid_service.config import Settings
from grid_service.patrols import repository
from grid_service.patrols.models import Patrol, PatrolCheckIn, PatrolFinding, PatrolTrackPoint
from grid_service.patrols.plausibility import Region, outliers, track_length_m
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
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed

# The fields a replayed row must repeat exactly (else 409 idempotency_conflict).
REPLAY_FIELDS: dict[str, tuple[str, ...]] = {
    "track_points": ("recorded_at", "lat", "lng", "accuracy_m"),
    "check_ins": ("key_place_id", "checked_in_at", "lat", "lng", "photos", "note"),
    "findings": ("found_at", "lat", "lng", "description", "photos", "outcome", "resolution"),
}


BEFORE_START = Text("早于巡查开始时间", "before the patrol started")
AFTER_END = Text("晚于巡查结束时间", "after the patrol ended")
LATER_THAN_NOW = Text("晚于当前时间", "later than now")


def skew(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.field_clock_skew_minutes)


def not_in_future(settings: Settings, field: str, value: datetime) -> None:
    if value > utcnow() + skew(settings):
        minutes = settings.field_clock_skew_minutes
        raise invalid(
            field,
            Text(
                f"晚于当前时间（超出 {minutes} 分钟的时钟误差）",
                f"later than now (more than {minutes} minutes of clock skew)",
            ),
            code="time_in_future",
        )


def replay_conflict(field: str, differs: str) -> Conflict:
    return Conflict(
        Text(
            f"{field} 已提交过，{differs} 与首次不同：重发必须与首次内容一致",
            f"{field} was sent before with another {differs}: a replay must repeat the first body",
        ),
        code="idempotency_conflict",
        errors=[
            FieldProblem(
                field=f"{field}.{differs}",
                reason=Text("与已保存的值不同", "differs from the stored value"),
            )
        ],
    )


def day_bounds(on: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(on, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


async def start(
    session: AsyncSession, settings: Settings, principal: Principal, body: PatrolStart
) -> tuple[Patrol, bool]:
    """The patrol, and whether it is new (a retried start returns the stored one). A worker
    has one open patrol at a time: starting another while one is open is a 409
    ``patrol_open`` naming it (the app ends it first)."""
    existing = await repository.get(session, body.id)
    if existing is not None:
        if existing.worker_id != principal.subject or existing.area_id != body.area_id:
            raise Conflict(
                Text("该巡查 ID 已被使用", "This patrol id is taken"), code="patrol_id_taken"
            )
        if existing.started_at != body.started_at:
            raise replay_conflict("patrol", "started_at")
        return existing, False
    not_in_future(settings, "started_at", body.started_at)
    area = await area_in_scope(session, principal, body.area_id)
    open_patrol = await repository.open_patrol(session, principal.subject)
    if open_patrol is not None:
        raise Conflict(
            Text(
                f"巡查 {open_patrol.id} 尚未结束：请先结束再开始新的巡查",
                f"Patrol {open_patrol.id} is still open: end it before starting another",
            ),
            code="patrol_open",
            extra={"open_patrol_id": str(open_patrol.id)},
        )
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
        raise NotFound(
            Text(f"没有巡查 {patrol_id}", f"No patrol {patrol_id}"), code="patrol_not_found"
        )
    if patrol.worker_id != principal.subject:
        raise Forbidden(
            Text("只有本次巡查的网格员可以修改", "Only the worker on this patrol may change it"),
            code="not_your_patrol",
        )
    return patrol


async def visible_patrol(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID
) -> Patrol:
    patrol = await repository.get(session, patrol_id)
    if patrol is None:
        raise NotFound(
            Text(f"没有巡查 {patrol_id}", f"No patrol {patrol_id}"), code="patrol_not_found"
        )
    if patrol.worker_id != principal.subject:
        ensure_covers(principal, [patrol.area_path], what="patrol")
    return patrol


async def upload(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    patrol_id: uuid.UUID,
    body: PatrolUpload,
) -> UploadResult:
    """Store a batch; rows whose id is already stored are skipped (ON CONFLICT DO NOTHING), so
    a batch retried after a lost answer, or overlapping the previous one, adds nothing twice —
    but a stored id sent again with other values is a 409 ``idempotency_conflict``. Times
    outside the patrol's window, or in the future, are refused; implausible points are kept,
    flagged as outliers and left out of the distance (see plausibility.py). Case ids of
    findings were checked with case_service by the route before this runs."""
    patrol = await own_patrol(session, principal, patrol_id, lock=True)  # one batch at a time
    check_window(settings, patrol, body)
    rows: dict[str, list[dict[str, Any]]] = {
        "track_points": [p.model_dump() for p in body.track_points],
        "check_ins": [c.model_dump() for c in body.check_ins],
        "findings": [
            {
                **f.model_dump(mode="python"),
                "outcome": f.outcome.value,
                "case_id": str(f.case_id) if f.case_id else None,
            }
            for f in body.findings
        ],
    }
    models: dict[str, type[SQLModel]] = {
        "track_points": PatrolTrackPoint,
        "check_ins": PatrolCheckIn,
        "findings": PatrolFinding,
    }
    for name, model in models.items():
        stored = await repository.stored(session, model, [r["id"] for r in rows[name]])
        for index, row in enumerate(rows[name]):
            before = stored.get(row["id"])
            if before is None:
                continue
            if before["patrol_id"] != patrol.id:
                raise invalid(
                    f"{name}.{index}.id",
                    Text("该编号属于另一次巡查", "this id belongs to another patrol"),
                )
            check_replay(f"{name}.{index}", REPLAY_FIELDS[name], before, row)
    for index, check_in in enumerate(body.check_ins):
        place = await basicinfo_repository.get(session, KeyPlace, check_in.key_place_id)
        if place is None or not (
            place.area_path == patrol.area_path
            or place.area_path.startswith(patrol.area_path + ".")
        ):
            raise invalid(
                f"check_ins.{index}.key_place_id",
                Text("所巡查网格内没有这个重点部位", "no such key place in the patrolled grid"),
                code="key_place_not_found",
            )
    points = await repository.insert_new(
        session, PatrolTrackPoint, [{**r, "patrol_id": patrol.id} for r in rows["track_points"]]
    )
    check_ins = await repository.insert_new(
        session, PatrolCheckIn, [{**r, "patrol_id": patrol.id} for r in rows["check_ins"]]
    )
    findings = await repository.insert_new(
        session,
        PatrolFinding,
        [
            {
                **r,
                "patrol_id": patrol.id,
                "case_linked_at": utcnow() if r["case_id"] else None,
            }
            for r in rows["findings"]
        ],
    )
    await link_replayed_cases(session, patrol.id, rows["findings"])
    if points:
        await measure(session, settings, patrol)
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


def check_window(settings: Settings, patrol: Patrol, body: PatrolUpload) -> None:
    """Every time of the batch inside the patrol: not before its start, not after its end, not
    in the future (each with the clock-skew allowance)."""
    allowance = skew(settings)
    earliest = patrol.started_at - allowance
    latest = min(
        patrol.ended_at + allowance if patrol.ended_at else utcnow() + allowance,
        utcnow() + allowance,
    )
    times: list[tuple[str, datetime]] = [
        *(
            (f"track_points.{i}.recorded_at", p.recorded_at)
            for i, p in enumerate(body.track_points)
        ),
        *((f"check_ins.{i}.checked_in_at", c.checked_in_at) for i, c in enumerate(body.check_ins)),
        *((f"findings.{i}.found_at", f.found_at) for i, f in enumerate(body.findings)),
    ]
    problems = []
    for field, value in times:
        if value < earliest:
            problems.append(FieldProblem(field=field, reason=BEFORE_START))
        elif value > latest:
            reason = (
                AFTER_END
                if patrol.ended_at and value > patrol.ended_at + allowance
                else LATER_THAN_NOW
            )
            problems.append(FieldProblem(field=field, reason=reason))
    if problems:
        raise ValidationFailed(
            Text("时间不在本次巡查的起止范围内", "Times outside the patrol's window"),
            code="outside_patrol_window",
            errors=problems,
        )


def check_replay(
    field: str, names: Sequence[str], before: Mapping[str, Any], row: Mapping[str, Any]
) -> None:
    for name in names:
        old, new = before[name], row[name]
        if isinstance(old, list) or isinstance(new, list):
            old, new = list(old or []), list(new or [])
        if old != new:
            raise replay_conflict(field, name)
    # a case id may be added later (the case was reported after the first upload); never changed
    if before.get("case_id") and row.get("case_id") and before["case_id"] != row["case_id"]:
        raise replay_conflict(field, "case_id")


async def link_replayed_cases(
    session: AsyncSession, patrol_id: uuid.UUID, findings: Sequence[Mapping[str, Any]]
) -> None:
    """A finding sent again with the case id it lacked the first time gets linked."""
    for row in findings:
        if row["case_id"]:
            found = await repository.finding(session, patrol_id, row["id"])
            if found is not None and found.case_id is None:
                found.case_id = row["case_id"]
                found.case_linked_at = utcnow()
                session.add(found)
    await session.flush()


async def measure(session: AsyncSession, settings: Settings, patrol: Patrol) -> None:
    """Flag the track's outliers again (late points may arrive out of order) and measure the
    distance over the plausible points only."""
    fixes = await repository.fixes(session, patrol.id)
    boundary = await repository.district_boundary(session, patrol.area_path)
    region = Region.around(boundary, settings.patrol_district_margin_m) if boundary else None
    flagged = outliers(fixes, region=region, max_speed_kmh=settings.patrol_max_speed_kmh)
    await repository.set_outliers(session, patrol.id, flagged)
    plausible = [
        (f.lat, f.lng)
        for f in sorted(fixes, key=lambda f: (f.recorded_at, f.id))
        if f.id not in flagged
    ]
    patrol.distance_m = round(track_length_m(plausible), 1)
    patrol.track_point_count = len(fixes)
    session.add(patrol)
    await session.flush()


async def end(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    patrol_id: uuid.UUID,
    ended_at: datetime,
) -> Patrol:
    patrol = await own_patrol(session, principal, patrol_id, lock=True)
    if patrol.ended_at is not None:
        if patrol.ended_at == ended_at:
            return patrol  # a retried end
        raise Conflict(Text("本次巡查已结束", "This patrol has already ended"), code="patrol_ended")
    if ended_at < patrol.started_at:
        raise invalid("ended_at", Text("早于巡查开始时间", "before the patrol started"))
    not_in_future(settings, "ended_at", ended_at)
    last = await repository.last_recorded_at(session, patrol.id)
    if last is not None and ended_at < last - skew(settings):
        raise invalid(
            "ended_at",
            Text(
                "早于已上传的最后一个轨迹点、签到或发现",
                "before the last uploaded track point, check-in or finding",
            ),
        )
    patrol.ended_at = ended_at
    session.add(patrol)
    await session.flush()
    return patrol


async def link_case(
    session: AsyncSession,
    principal: Principal,
    patrol_id: uuid.UUID,
    finding_id: uuid.UUID,
    case_id: uuid.UUID,
) -> PatrolFinding:
    """Link a reported finding to its case (the route checked the case with case_service)."""
    await own_patrol(session, principal, patrol_id)
    found = await repository.finding(session, patrol_id, finding_id)
    if found is None:
        raise NotFound(
            Text(f"本次巡查没有发现记录 {finding_id}", f"No finding {finding_id} on this patrol"),
            code="finding_not_found",
        )
    if found.outcome != "reported":
        raise Conflict(
            Text("该发现已现场处置", "This finding was resolved on the spot"),
            code="finding_resolved",
        )
    if found.case_id is not None and found.case_id != str(case_id):
        raise Conflict(
            Text("该发现已关联其他案件", "This finding is linked to another case"),
            code="finding_linked",
        )
    if found.case_id is None:
        found.case_id = str(case_id)
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
