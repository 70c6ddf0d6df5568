"""Time limits over HTTP: policies, the working calendar, a case's deadlines, extensions (延期)
and supervision (催办/督办)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import col, select

from case_service.cases import access
from case_service.cases import repository as case_repository
from case_service.cases.models import Case
from case_service.cases.service import add_timeline, get_visible
from case_service.categories import repository as categories
from case_service.categories.schemas import CaseKind, Priority
from case_service.outbox.service import record_event
from case_service.sla import service
from case_service.sla.calendar import LimitUnit
from case_service.sla.models import (
    CalendarOverride,
    CaseDeadline,
    Extension,
    SlaPolicy,
    SlaTimer,
    Supervision,
)
from case_service.sla.schemas import (
    CalendarOverrideRead,
    CalendarOverrideWrite,
    DeadlineRead,
    ExtensionCreate,
    ExtensionDecision,
    ExtensionRead,
    SlaPolicyCreate,
    SlaPolicyRead,
    SupervisionCreate,
    SupervisionRead,
    SupervisionResponse,
)
from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ValidationFailed,
    problem_responses,
)

router = APIRouter(prefix="/api/v1", tags=["time limits"])
_SUP: sa.Table = Supervision.__table__  # type: ignore[attr-defined]

DECIDERS = (Role.dispatcher, Role.supervisor, Role.admin)
SUPERVISORS = (Role.supervisor, Role.admin)


def _staff(principal: Principal) -> None:
    if principal.has_role(Role.resident):
        raise Forbidden(Text("仅限工作人员", "Staff only"), code="missing_role")


def _policy_admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden(
            Text("只有管理员可以修改办理时限", "Only an admin changes time limits"),
            code="missing_role",
        )


def _calendar_admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden(
            Text("只有管理员可以修改工作日历", "Only an admin changes the working calendar"),
            code="missing_role",
        )


def _decider(principal: Principal) -> None:
    if not principal.has_role(*DECIDERS):
        raise Forbidden(_DECIDER_TEXT, code="missing_role")


def _supervisor(principal: Principal) -> None:
    if not principal.has_role(*SUPERVISORS):
        raise Forbidden(
            Text("只有督查员可以发起督办", "Only a supervisor opens supervision orders"),
            code="missing_role",
        )


def _supervision_reader(principal: Principal) -> None:
    if not principal.has_role(Role.supervisor, Role.dispatcher, Role.grid_leader, Role.admin):
        raise Forbidden(
            Text(
                "督办列表供督查员和派遣员查看",
                "Supervision lists are for supervisors and dispatchers",
            ),
            code="missing_role",
        )


_DECIDER_TEXT = Text(
    "由办理层级的派遣员或督查员审批", "A dispatcher or supervisor of the handling level decides"
)
# role checks as route dependencies: they run before the body is validated (403 before 422)
StaffDep = Annotated[Principal, require(_staff)]
PolicyAdminDep = Annotated[Principal, require(_policy_admin)]
CalendarAdminDep = Annotated[Principal, require(_calendar_admin)]
DeciderDep = Annotated[Principal, require(_decider)]
SupervisorDep = Annotated[Principal, require(_supervisor)]
SupervisionReaderDep = Annotated[Principal, require(_supervision_reader)]


def _policy_read(p: SlaPolicy) -> SlaPolicyRead:
    return SlaPolicyRead.model_validate(p, from_attributes=True)


@router.get(
    "/sla/policies",
    response_model=list[SlaPolicyRead],
    summary="List active time-limit policies",
    description="Every active policy. A new deadline takes the most specific match "
    "(category, kind, priority, handling level); without a match the built-in defaults apply.",
)
async def list_policies(session: SessionDep, principal: StaffDep) -> list[SlaPolicyRead]:
    rows = (
        (
            await session.execute(
                select(SlaPolicy)
                .where(col(SlaPolicy.active).is_(True))
                .order_by(col(SlaPolicy.created_at))
            )
        )
        .scalars()
        .all()
    )
    return [_policy_read(p) for p in rows]


@router.post(
    "/sla/policies",
    response_model=SlaPolicyRead,
    status_code=201,
    summary="Create or replace a time-limit policy (admin)",
    description="A policy for the same (category, kind, priority, level) replaces the active one "
    "as a new version; cases already running keep the limits they started under.",
    responses=problem_responses(403, 422),
)
async def create_policy(
    principal: PolicyAdminDep, body: SlaPolicyCreate, session: SessionDep
) -> SlaPolicyRead:
    await _check_references(session, body)
    same = (
        (
            await session.execute(
                select(SlaPolicy)
                .where(
                    col(SlaPolicy.active).is_(True),
                    col(SlaPolicy.category_code).is_not_distinct_from(body.category_code),
                    col(SlaPolicy.kind).is_not_distinct_from(body.kind),
                    col(SlaPolicy.priority).is_not_distinct_from(body.priority),
                    col(SlaPolicy.handling_level).is_not_distinct_from(body.handling_level),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    version = 1 + max((p.version for p in same), default=0)
    for old in same:
        old.active = False
        session.add(old)
    policy = SlaPolicy(
        **body.model_dump(exclude={"limits"}),
        limits=body.limits.model_dump(mode="json", exclude_none=True),
        version=version,
        created_by=principal.subject,
    )
    session.add(policy)
    await session.flush()
    return _policy_read(policy)


async def _check_references(session: Any, body: SlaPolicyCreate) -> None:
    """What the policy names must exist: a policy for a category, kind or priority that no
    case can have would never apply (422 naming the field)."""
    problems: list[FieldProblem] = []
    if body.category_code is not None:
        category = await categories.get_current(session, body.category_code)
        if category is None:
            problems.append(
                FieldProblem(
                    field="category_code",
                    reason=Text(
                        f"没有类别 {body.category_code}", f"no category {body.category_code}"
                    ),
                )
            )
    for name, enum in (("kind", CaseKind), ("priority", Priority)):
        value = getattr(body, name)
        if value is not None and value not in {m.value for m in enum}:
            allowed = ", ".join(m.value for m in enum)
            problems.append(
                FieldProblem(
                    field=name,
                    reason=Text(f"须为以下之一：{allowed}", f"must be one of: {allowed}"),
                )
            )
    if problems:
        raise ValidationFailed(
            Text("时限规则引用了不存在的类别或取值", "The policy names what does not exist"),
            code="unknown_reference",
            errors=problems,
        )


Jurisdiction = Annotated[
    str,
    Query(
        max_length=255,
        pattern=r"^[0-9.]*$",
        description="area path the override applies to and below; empty = everywhere",
    ),
]


def _check_jurisdiction(principal: Principal, path: str) -> None:
    if path and principal.area_paths and not principal.covers_area(path):
        raise NotFound(
            Text("您的权限范围内没有这个辖区", "No such jurisdiction in your scope"),
            code="jurisdiction_not_found",
        )
    if not path and principal.area_paths:
        raise Forbidden(
            Text(
                "只有不限区域的管理员才能设置全国性的日期",
                "Only an admin without an area restriction sets nationwide days",
            ),
            code="out_of_scope",
        )


async def _calendar_keeper(
    principal: CalendarAdminDep, jurisdiction: Jurisdiction = ""
) -> Principal:
    """An admin whose areas hold the jurisdiction (an unrestricted one for nationwide days),
    checked before the body is validated."""
    _check_jurisdiction(principal, jurisdiction)
    return principal


CalendarKeeperDep = Annotated[Principal, Depends(_calendar_keeper)]


@router.get(
    "/calendar/overrides",
    response_model=list[CalendarOverrideRead],
    summary="List working-calendar overrides",
    description="Days declared working or not on top of the official schedule, for a "
    "jurisdiction and the ones above it.",
)
async def list_overrides(
    session: SessionDep,
    principal: CurrentPrincipal,
    jurisdiction: Jurisdiction = "",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> list[CalendarOverrideRead]:
    parts = jurisdiction.split(".") if jurisdiction else []
    prefixes = [""] + [".".join(parts[: i + 1]) for i in range(len(parts))]
    stmt = select(CalendarOverride).where(col(CalendarOverride.jurisdiction_path).in_(prefixes))
    if year is not None:
        stmt = stmt.where(
            col(CalendarOverride.day) >= date(year, 1, 1),
            col(CalendarOverride.day) <= date(year, 12, 31),
        )
    rows = (await session.execute(stmt.order_by(col(CalendarOverride.day)))).scalars().all()
    return [CalendarOverrideRead.model_validate(r, from_attributes=True) for r in rows]


@router.put(
    "/calendar/overrides/{day}",
    response_model=CalendarOverrideRead,
    summary="Declare a day working or not (admin)",
    description="Deadlines started after the change use it. Localities add their own days "
    "and enter next year's official schedule when it is published in November.",
    responses=problem_responses(403, 404, 422),
)
async def put_override(
    principal: CalendarKeeperDep,
    day: date,
    body: CalendarOverrideWrite,
    session: SessionDep,
    jurisdiction: Jurisdiction = "",
) -> CalendarOverrideRead:
    row = (
        await session.execute(
            select(CalendarOverride)
            .where(
                col(CalendarOverride.jurisdiction_path) == jurisdiction,
                col(CalendarOverride.day) == day,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        row = CalendarOverride(
            jurisdiction_path=jurisdiction,
            day=day,
            is_workday=body.is_workday,
            reason=body.reason,
            created_by=principal.subject,
        )
    else:
        row.is_workday, row.reason, row.created_by = body.is_workday, body.reason, principal.subject
    session.add(row)
    await session.flush()
    return CalendarOverrideRead.model_validate(row, from_attributes=True)


@router.delete(
    "/calendar/overrides/{day}",
    status_code=204,
    summary="Remove an override (admin)",
    responses=problem_responses(403, 404),
)
async def delete_override(
    principal: CalendarKeeperDep, day: date, session: SessionDep, jurisdiction: Jurisdiction = ""
) -> None:
    row = (
        await session.execute(
            select(CalendarOverride).where(
                col(CalendarOverride.jurisdiction_path) == jurisdiction,
                col(CalendarOverride.day) == day,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(Text("当天没有调整", "No override on that day"), code="override_not_found")
    await session.delete(row)


CaseId = Annotated[uuid.UUID, Path(description="case id")]


@router.get(
    "/cases/{case_id}/deadlines",
    response_model=list[DeadlineRead],
    summary="A case's time limits: due times, time left and status",
    description="Every deadline of the case: acceptance, dispatch, first response and "
    "resolution at each handling level, with `state` on_track, due_soon (past the reminder "
    "point), overdue, met, met_late or cancelled.",
    responses=problem_responses(404),
)
async def case_deadlines(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal
) -> list[DeadlineRead]:
    case = await get_visible(session, principal, case_id)
    return await deadlines_read(session, case)


async def deadlines_read(session: Any, case: Case) -> list[DeadlineRead]:
    rows = (
        (
            await session.execute(
                select(CaseDeadline)
                .where(col(CaseDeadline.case_id) == case.id)
                .order_by(col(CaseDeadline.started_at), col(CaseDeadline.kind))
            )
        )
        .scalars()
        .all()
    )
    cal = await service.calendar_for(session, case.handling_area_path or case.area_path)
    now = utcnow()
    out = []
    for d in rows:
        state = service.deadline_state(d, now, cal)
        out.append(
            DeadlineRead.model_validate(
                {**d.model_dump(), "state": state["state"], "seconds_left": state["seconds_left"]}
            )
        )
    return out


async def _handler_case(session: Any, principal: Principal, case_id: uuid.UUID) -> Case:
    case = await get_visible(session, principal, case_id)
    rows = await case_repository.assignments(session, case.id)
    if not access.is_handler(principal, rows):
        raise Forbidden(
            Text("只有本案件的办理人可以这样做", "Only a handler of the case can do this"),
            code="not_a_handler",
        )
    return case


@router.post(
    "/cases/{case_id}/extensions",
    response_model=ExtensionRead,
    status_code=201,
    summary="Ask for more time (延期) — handler",
    description="A dispatcher or supervisor of the level approves or refuses it.",
    responses=problem_responses(403, 404, 409, 422),
)
async def request_extension(
    case_id: CaseId, body: ExtensionCreate, session: SessionDep, principal: CurrentPrincipal
) -> ExtensionRead:
    case = await _handler_case(session, principal, case_id)
    deadline = next(
        (d for d in await service.open_deadlines(session, case.id) if d.kind == body.deadline_kind),
        None,
    )
    if deadline is None:
        raise Conflict(
            Text(
                f"案件没有进行中的 {body.deadline_kind} 时限",
                f"The case has no open {body.deadline_kind} deadline",
            ),
            code="no_open_deadline",
        )
    pending = (
        await session.execute(
            select(Extension).where(
                col(Extension.deadline_id) == deadline.id, col(Extension.status) == "pending"
            )
        )
    ).first()
    if pending is not None:
        raise Conflict(
            Text(
                "该时限已有一个延期申请等待审批",
                "An extension of this deadline is already waiting for a decision",
            ),
            code="extension_pending",
        )
    ext = Extension(
        case_id=case.id,
        deadline_id=deadline.id,
        amount=body.amount,
        unit=body.unit.value,
        reason=body.reason,
        requested_by=principal.subject,
    )
    session.add(ext)
    await session.flush()
    add_timeline(
        session,
        case,
        principal,
        kind="extension_requested",
        reason=body.reason,
        at=utcnow(),
        data={"extension_id": str(ext.id), "amount": body.amount, "unit": body.unit.value},
    )
    await record_event(
        session,
        case,
        type="case.extension_requested",
        actor_id=principal.subject,
        extra={"extension_id": str(ext.id)},
    )
    return ExtensionRead.model_validate(ext, from_attributes=True)


@router.post(
    "/cases/{case_id}/extensions/{extension_id}/decision",
    response_model=ExtensionRead,
    summary="Approve or refuse an extension — dispatcher or supervisor",
    description="An approved extension moves the deadline (counted in the case's statistics); "
    "a refusal leaves it where it was.",
    responses=problem_responses(403, 404, 409),
)
async def decide_extension(
    principal: DeciderDep,
    case_id: CaseId,
    extension_id: uuid.UUID,
    body: ExtensionDecision,
    session: SessionDep,
) -> ExtensionRead:
    case = await get_visible(session, principal, case_id)
    if not (principal.has_role(Role.admin) or access.covers(principal, case.handling_area_path)):
        raise Forbidden(_DECIDER_TEXT, code="missing_role")
    ext = await session.get(Extension, extension_id, with_for_update=True)
    if ext is None or ext.case_id != case.id:
        raise NotFound(Text("没有这个延期申请", "No such extension"), code="extension_not_found")
    if ext.status != "pending":
        raise Conflict(
            Text(f"该延期申请已是 {ext.status}", f"The extension was already {ext.status}"),
            code="extension_decided",
        )
    if not body.approve and not body.reason:
        raise ValidationFailed(
            Text("驳回须说明理由", "A refusal needs a reason"),
            code="reason_required",
            errors=[FieldProblem(field="reason", reason=Text("驳回时必填", "required to refuse"))],
        )
    now = utcnow()
    ext.decided_by, ext.decided_at, ext.decision_reason = principal.subject, now, body.reason
    if body.approve:
        deadline = await session.get(CaseDeadline, ext.deadline_id, with_for_update=True)
        if deadline is None or deadline.status not in {"open", "paused"}:
            raise Conflict(
                Text("该时限已不再计时", "The deadline is no longer running"),
                code="no_open_deadline",
            )
        ext.previous_due_at = deadline.due_at
        ext.new_due_at = await service.extend(
            session, case, deadline, ext.amount, LimitUnit(ext.unit), now
        )
        ext.status = "approved"
    else:
        ext.status = "refused"
    session.add(ext)
    add_timeline(
        session,
        case,
        principal,
        kind=f"extension_{ext.status}",
        reason=body.reason,
        at=now,
        data={
            "extension_id": str(ext.id),
            "new_due_at": ext.new_due_at.isoformat() if ext.new_due_at else None,
        },
    )
    await record_event(
        session,
        case,
        type="case.extended" if ext.status == "approved" else "case.extension_refused",
        actor_id=principal.subject,
        extra={"extension_id": str(ext.id)},
    )
    await session.flush()
    return ExtensionRead.model_validate(ext, from_attributes=True)


@router.post(
    "/cases/{case_id}/supervisions",
    response_model=SupervisionRead,
    status_code=201,
    summary="Urge (催办) or supervise (督办) a case — supervisor",
    description="Opens a supervision order with a required response time; the handler must "
    "respond. If nobody responds in time the order lapses and the level is told.",
    responses=problem_responses(403, 404, 409),
)
async def open_supervision(
    principal: SupervisorDep, case_id: CaseId, body: SupervisionCreate, session: SessionDep
) -> SupervisionRead:
    case = await get_visible(session, principal, case_id)
    if case.status not in service_open_statuses():
        raise Conflict(
            Text("只有办理中的案件可以督办", "Only an open case can be supervised"),
            code="case_not_open",
        )
    now = utcnow()
    cal = await service.calendar_for(session, case.handling_area_path or case.area_path)
    due = cal.deadline(now, body.respond_within.amount, body.respond_within.unit)
    sup = Supervision(
        case_id=case.id,
        kind=body.kind.value,
        area_path=case.handling_area_path,
        reason=body.reason,
        opened_by=principal.subject,
        response_due_at=due,
        created_at=now,
    )
    session.add(sup)
    await session.flush()
    session.add(
        SlaTimer(case_id=case.id, kind="supervision_due", supervision_id=sup.id, due_at=due)
    )
    add_timeline(
        session,
        case,
        principal,
        kind="supervision_opened",
        reason=body.reason,
        at=now,
        data={
            "supervision_id": str(sup.id),
            "supervision_kind": sup.kind,
            "response_due_at": due.isoformat(),
        },
    )
    await record_event(
        session,
        case,
        type="case.urged",
        actor_id=principal.subject,
        extra={
            "supervision_id": str(sup.id),
            "supervision_kind": sup.kind,
            "response_due_at": due.isoformat(),
        },
    )
    return SupervisionRead.model_validate(sup, from_attributes=True)


def service_open_statuses() -> set[str]:
    from case_service.cases.models import OPEN_STATUSES

    return {*OPEN_STATUSES, "suspended"}


@router.post(
    "/supervisions/{supervision_id}/response",
    response_model=SupervisionRead,
    summary="Respond to a supervision order — handler",
    responses=problem_responses(403, 404, 409),
)
async def respond_supervision(
    supervision_id: uuid.UUID,
    body: SupervisionResponse,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> SupervisionRead:
    sup = await session.get(Supervision, supervision_id, with_for_update=True)
    if sup is None:
        raise NotFound(
            Text("没有这个督办单", "No such supervision order"), code="supervision_not_found"
        )
    try:
        case = await _handler_case(session, principal, sup.case_id)
    except NotFound as exc:
        raise NotFound(
            Text("没有这个督办单", "No such supervision order"), code="supervision_not_found"
        ) from exc
    if sup.status == "responded":
        raise Conflict(
            Text("该督办单已回复", "The order was already answered"), code="supervision_answered"
        )
    now = utcnow()
    sup.status, sup.response = "responded", body.response
    sup.responded_by, sup.responded_at = principal.subject, now
    session.add(sup)
    add_timeline(
        session,
        case,
        principal,
        kind="supervision_response",
        reason=body.response,
        at=now,
        data={
            "supervision_id": str(sup.id),
            "late": bool(sup.response_due_at and now > sup.response_due_at),
        },
    )
    await record_event(
        session,
        case,
        type="case.supervision_answered",
        actor_id=principal.subject,
        extra={"supervision_id": str(sup.id)},
    )
    await session.flush()
    return SupervisionRead.model_validate(sup, from_attributes=True)


@router.get(
    "/supervisions",
    response_model=Page[SupervisionRead],
    summary="List supervision records in scope",
    description="Supervision orders and overdue records of the levels in the caller's scope, "
    "newest first; filter by `status` (open, responded, lapsed) and `kind`.",
)
async def list_supervisions(
    principal: SupervisionReaderDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(open|responded|lapsed)$")] = None,
    kind: Annotated[str | None, Query(pattern="^(urge|supervise|overdue)$")] = None,
) -> Page[SupervisionRead]:
    stmt = select(Supervision)
    if not principal.has_role(Role.admin) or principal.area_paths:
        stmt = stmt.where(
            sa.or_(
                sa.false(),
                *[access.subtree(col(Supervision.area_path), p) for p in principal.area_paths],
            )
        )
    if status:
        stmt = stmt.where(col(Supervision.status) == status)
    if kind:
        stmt = stmt.where(col(Supervision.kind) == kind)
    return await paginate(
        session,
        stmt,
        order_by=[_SUP.c.created_at, _SUP.c.id],
        params=page,
        to_item=lambda s: SupervisionRead.model_validate(s, from_attributes=True),
    )
