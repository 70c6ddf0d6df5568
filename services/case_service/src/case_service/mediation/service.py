"""Business rules of dispute mediation. Flush, never commit.

Every step locks the dispute row, checks the transition table (:mod:`.lifecycle`), the role and
the body, then writes its rows, a case timeline entry and an outbox event (which also fans out
to webhooks) in the caller's transaction — all or nothing.
"""

from __future__ import annotations

import calendar as pycalendar
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases import access
from case_service.cases.models import Case
from case_service.cases.service import add_timeline
from case_service.mediation import lifecycle as lc
from case_service.mediation import notices
from case_service.mediation.lifecycle import MediationAction, Performance, Status, Track
from case_service.mediation.models import (
    Dispute,
    DisputeMediator,
    DisputeParty,
    DisputePartyReveal,
    DisputeSession,
    DisputeTerm,
)
from case_service.mediation.schemas import (
    DisputeCreate,
    DisputeRead,
    DisputeUpdate,
    MediationActionRequest,
    MediatorRead,
    PartyIn,
    PartyRead,
    Risk,
    SessionRead,
    TermRead,
)
from case_service.outbox.service import record_event
from case_service.privacy import service as privacy
from case_service.sla import service as sla_service
from case_service.sla.calendar import WorkingCalendar
from case_service.sla.models import SlaTimer
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.i18n import Text
from shared.logging import current_request_id
from shared.pii import mask_name, mask_phone, normalise
from shared.problem import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed

NAME_FIELD = "dispute_party.name"
PHONE_FIELD = "dispute_party.phone"
ID_FIELD = "dispute_party.id_number"

#: category codes of 矛盾纠纷 (the catalogue's top level 01)
DISPUTE_CATEGORY_PREFIX = "01"
COORDINATOR_ROLES = (Role.dispatcher, Role.grid_leader, Role.admin)
MEDIATION_POSTS = ("mediator", "lawyer", "notary", "building_head")
CONFIRMATION_DAYS = 30

_settings: dict[str, Any] = {"major_people": 5, "major_departments": []}


def configure(*, major_people_threshold: int, major_departments: list[str] | None = None) -> None:
    _settings["major_people"] = major_people_threshold
    _settings["major_departments"] = list(major_departments or [])


# ------------------------------------------------------------------------------- problems


def _invalid(
    field: str, reason: Text, detail: Text, code: str, type_: str = "invalid"
) -> ValidationFailed:
    return ValidationFailed(
        detail, code=code, errors=[FieldProblem(field=field, reason=reason, type=type_)]
    )


def _no_file() -> NotFound:
    return NotFound(
        Text("此案件没有调解档案", "This case has no mediation file"), code="dispute_not_found"
    )


def _not_permitted(action: str) -> Forbidden:
    return Forbidden(
        Text(
            f"您不能对此纠纷执行「{action}」：调解由所在层级的调度员、网格长或指派的调解员办理",
            f"You may not {action} this dispute: mediation is done by the dispatchers, grid "
            "leaders and assigned mediators of the level handling it",
        ),
        code="mediation_not_permitted",
    )


# ------------------------------------------------------------------------------- parties


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) <= 8:
        return value[0] + "*" * (len(value) - 1)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def seal_party(dispute_id: uuid.UUID, ord: int, data: PartyIn) -> DisputeParty:
    c = privacy.cipher()
    id_number = data.id_number.upper() if data.id_number else None
    return DisputeParty(
        dispute_id=dispute_id,
        ord=ord,
        side=data.side.value,
        kind=data.kind.value,
        name=c.encrypt(data.name.strip(), field=NAME_FIELD),
        phone=c.encrypt(data.phone, field=PHONE_FIELD) if data.phone else None,
        phone_hash=c.lookup_hash(normalise(data.phone)) if data.phone else None,
        id_number=c.encrypt(id_number, field=ID_FIELD) if id_number else None,
        id_number_hash=c.lookup_hash(id_number) if id_number else None,
        address=data.address,
    )


@dataclass(frozen=True)
class OpenParty:
    side: str
    kind: str
    name: str
    phone: str | None
    id_number: str | None
    address: str | None


def open_party(p: DisputeParty) -> OpenParty:
    c = privacy.cipher()
    return OpenParty(
        side=p.side,
        kind=p.kind,
        name=c.decrypt(p.name, field=NAME_FIELD),
        phone=c.decrypt(p.phone, field=PHONE_FIELD) if p.phone else None,
        id_number=c.decrypt(p.id_number, field=ID_FIELD) if p.id_number else None,
        address=p.address,
    )


def open_phone(sealed: str) -> str:
    return privacy.cipher().decrypt(sealed, field=PHONE_FIELD)


def party_read(p: DisputeParty, *, clear: bool) -> PartyRead:
    o = open_party(p)
    if clear:
        return PartyRead(
            id=p.id,
            side=p.side,
            kind=p.kind,
            name=o.name,
            phone=o.phone,
            id_number=o.id_number,
            address=o.address,
            masked=False,
        )
    # an organisation's name is public; a person's is masked
    name = o.name if p.kind == "organisation" else mask_name(o.name)
    return PartyRead(
        id=p.id,
        side=p.side,
        kind=p.kind,
        name=name,
        phone=mask_phone(o.phone),
        id_number=mask_id_number(o.id_number),
        address=None,
        masked=True,
    )


# ------------------------------------------------------------------------------- access


def _coordinator(principal: Principal, case: Case, dispute: Dispute | None) -> bool:
    if principal.has_role(Role.admin):
        return True
    if not principal.has_role(Role.dispatcher, Role.grid_leader):
        return False
    if dispute is None or dispute.level == "community":
        return access.covers(principal, case.area_path) or (
            dispute is not None and access.covers(principal, dispute.level_area_path)
        )
    return access.covers(principal, dispute.level_area_path)


def _mediator(principal: Principal, mediators: list[DisputeMediator]) -> bool:
    return any(m.active and m.account_id == principal.subject for m in mediators)


def may_reveal(
    principal: Principal, case: Case, dispute: Dispute, mediators: list[DisputeMediator]
) -> bool:
    return _coordinator(principal, case, dispute) or _mediator(principal, mediators)


def can_see(principal: Principal, case: Case, mediators: list[DisputeMediator]) -> bool:
    return access.can_see(principal, case) or _mediator(principal, mediators)


# ------------------------------------------------------------------------------- reads


async def get_for(
    session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False
) -> Dispute | None:
    stmt = sa.select(Dispute).where(col(Dispute.case_id) == case_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def _rows(session: AsyncSession, model: Any, dispute_id: uuid.UUID, order: Any) -> list[Any]:
    stmt = sa.select(model).where(model.dispute_id == dispute_id).order_by(order)
    return list((await session.execute(stmt)).scalars().all())


async def parties(session: AsyncSession, dispute_id: uuid.UUID) -> list[DisputeParty]:
    return await _rows(session, DisputeParty, dispute_id, col(DisputeParty.ord))


async def mediators(session: AsyncSession, dispute_id: uuid.UUID) -> list[DisputeMediator]:
    return await _rows(session, DisputeMediator, dispute_id, col(DisputeMediator.assigned_at))


async def sessions(session: AsyncSession, dispute_id: uuid.UUID) -> list[DisputeSession]:
    return await _rows(session, DisputeSession, dispute_id, col(DisputeSession.number))


async def terms(session: AsyncSession, dispute_id: uuid.UUID) -> list[DisputeTerm]:
    return await _rows(session, DisputeTerm, dispute_id, col(DisputeTerm.ord))


async def record_reveal(
    session: AsyncSession, principal: Principal, dispute: Dispute, *, reason: str, purpose: str
) -> None:
    session.add(
        DisputePartyReveal(
            dispute_id=dispute.id,
            actor_id=principal.subject,
            actor_roles=sorted(principal.roles),
            reason=reason[:500],
            purpose=purpose,
            request_id=current_request_id(),
        )
    )
    await session.flush()


def check_reveal(
    principal: Principal,
    case: Case,
    dispute: Dispute,
    rows: list[DisputeMediator],
    reason: str | None,
) -> str:
    if not may_reveal(principal, case, dispute, rows):
        raise Forbidden(
            Text(
                "您不能查看此纠纷当事人的完整信息（仅调解员和所在层级的调度员、网格长可查看）",
                "You may not see this dispute's parties in full (only its mediators and the "
                "level's dispatchers and grid leaders)",
            ),
            code="reveal_not_allowed",
        )
    if reason is None or not reason.strip():
        raise _invalid(
            "query.reason",
            Text("reveal=true 时必填", "required with reveal=true"),
            Text("请说明查看当事人完整信息的理由", "Say why you need the parties in full"),
            "reveal_reason_required",
            "missing",
        )
    return reason.strip()


def confirmation_due_on(dispute: Dispute) -> date | None:
    if dispute.agreed_at is None:
        return None
    return dispute.agreed_at.astimezone(sla_service._hours["tz"]).date() + timedelta(
        days=CONFIRMATION_DAYS
    )


async def to_read(
    session: AsyncSession, case: Case, dispute: Dispute, *, clear: bool
) -> DisputeRead:
    ps = await parties(session, dispute.id)
    ms = await mediators(session, dispute.id)
    ss = await sessions(session, dispute.id)
    ts = await terms(session, dispute.id)
    return DisputeRead(
        id=dispute.id,
        case_id=case.id,
        case_number=case.case_number,
        status=dispute.status,
        status_title=lc.STATUS_TITLES[Status(dispute.status)],
        level=dispute.level,
        level_area_path=dispute.level_area_path,
        dispute_type=dispute.dispute_type,
        facts=dispute.facts,
        people_involved=dispute.people_involved,
        amount_yuan=dispute.amount_yuan,
        risk_level=dispute.risk_level,
        risk_title=lc.RISK_TITLES[dispute.risk_level],
        escalating=dispute.escalating,
        converted=dispute.converted,
        refused_reason=dispute.refused_reason,
        accepted_at=dispute.accepted_at,
        due_at=dispute.due_at,
        extensions=list(dispute.extensions or []),
        responsibility=dispute.responsibility,
        outcome_reason=dispute.outcome_reason,
        agreed_at=dispute.agreed_at,
        judicial_status=dispute.judicial_status,
        judicial_court=dispute.judicial_court,
        confirmation_due_on=confirmation_due_on(dispute),
        referred_department_id=dispute.referred_department_id,
        version=dispute.version,
        allowed_actions=lc.allowed(
            dispute.status, dispute.judicial_status, [t.performance for t in ts]
        ),
        parties=[party_read(p, clear=clear) for p in ps],
        mediators=[MediatorRead.model_validate(m) for m in ms],
        sessions=[SessionRead.model_validate(s) for s in ss],
        terms=[TermRead.model_validate(t) for t in ts],
        created_at=dispute.created_at,
        updated_at=dispute.updated_at,
    )


# ------------------------------------------------------------------------------- levels


def level_path(case: Case, level: str) -> str | None:
    """The area path of ``level`` in the case's chain (community, street, city)."""
    for entry in case.area_chain or []:
        if entry.get("level") == level and entry.get("path"):
            return str(entry["path"])
    return None


def _first_level(case: Case) -> tuple[str, str]:
    for level in lc.LEVELS:
        path = level_path(case, level)
        if path:
            return level, path
    return "community", case.handling_area_path or case.area_path or ""


def one_month_limit(cal: WorkingCalendar, start: datetime) -> datetime:
    """One month from ``start`` on the working calendar: the same day next month (or the
    month's last day), moved to the end of the next working day when that day is not one."""
    local = start.astimezone(cal.tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, pycalendar.monthrange(year, month)[1])
    return _end_of_workday_on_or_after(cal, date(year, month, day))


def _end_of_workday_on_or_after(cal: WorkingCalendar, day: date) -> datetime:
    eve = datetime.combine(day - timedelta(days=1), time(12), cal.tz)
    end: datetime = cal.end_of_nth_workday(eve, 1)
    return end


# ------------------------------------------------------------------------------- risk


def _risk_of(dispute: Dispute, asked: str) -> str:
    if dispute.escalating or dispute.people_involved >= _settings["major_people"]:
        return Risk.major.value
    return asked


async def _apply_risk(
    session: AsyncSession, principal: Principal, case: Case, dispute: Dispute, asked: str
) -> None:
    was_major = dispute.risk_level == Risk.major.value
    dispute.risk_level = _risk_of(dispute, asked)
    if dispute.risk_level != Risk.major.value or was_major:
        return
    # 重大: upward at once through the major-incident path (000:L245; 激化 → departments).
    newly = not sla_service.is_major(case)
    if newly:
        case.major = True
        case.version += 1
        case.updated_at = utcnow()
    why = (
        "可能激化"
        if dispute.escalating
        else f"涉及{dispute.people_involved}人（≥{_settings['major_people']}）"
    )
    add_timeline(
        session,
        case,
        principal,
        kind="mediation",
        action="major",
        reason=f"重大矛盾纠纷：{why}",
        data={
            "dispute_id": str(dispute.id),
            "risk_level": "major",
            "people_involved": dispute.people_involved,
            "escalating": dispute.escalating,
        },
    )
    await sla_service.report_major(session, case)
    # … and the departments are told at once: the case's own, and those owning the category
    # in the case's area (grid_service); the relay asks for their on-duty handlers
    await notices.write(
        session,
        kind="major",
        dedup_key=f"major:{dispute.id}",
        template_key="mediation_major",
        variables={
            "case_number": case.case_number,
            "dispute_type": dispute.dispute_type,
            "reason": why,
        },
        recipients={
            "departments": {
                "ids": [
                    d for d in [*(case.department_ids or []), *_settings["major_departments"]] if d
                ],
                "category": case.category_code,
                "area_path": case.area_path,
            }
        },
        priority="critical",
    )


# ------------------------------------------------------------------------------- create


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    data: DisputeCreate,
    screened: bool = False,
) -> Dispute:
    """``screened``: listed in a grid's screening report (排查), whose workers open the files of
    the 矛盾纠纷 cases they found in their grid."""
    is_dispute_category = (case.category_code or "").startswith(DISPUTE_CATEGORY_PREFIX)
    allowed = (
        _coordinator(principal, case, None)
        or (
            screened
            and principal.has_role(Role.grid_worker)
            and access.covers(principal, case.area_path)
        )
        if is_dispute_category
        else (
            principal.has_role(Role.admin)
            or (principal.has_role(Role.dispatcher) and access.covers(principal, case.area_path))
        )
    )
    if not allowed:
        raise Forbidden(
            Text(
                "只有所辖区域的调度员、网格长可以建立调解档案；非矛盾纠纷类案件只能由调度员转为纠纷",
                "Only the area's dispatchers and grid leaders open a mediation file; only a "
                "dispatcher turns a case of another category into a dispute",
            ),
            code="mediation_not_permitted",
        )
    if await get_for(session, case.id) is not None:
        raise Conflict(
            Text("此案件已有调解档案", "This case already has a mediation file"),
            code="dispute_exists",
        )
    sides = {p.side.value for p in data.parties}
    if sides != {"applicant", "respondent"}:
        missing = "respondent" if "applicant" in sides else "applicant"
        raise _invalid(
            "parties",
            Text(f"缺少{'被申请人' if missing == 'respondent' else '申请人'}", f"no {missing}"),
            Text("纠纷须有申请人和被申请人", "A dispute needs an applicant and a respondent"),
            "parties_incomplete",
        )
    level, path = _first_level(case)
    now = utcnow()
    dispute = Dispute(
        case_id=case.id,
        status=Status.registered.value,
        level=level,
        level_area_path=path,
        dispute_type=data.dispute_type.strip(),
        facts=data.facts,
        people_involved=data.people_involved,
        amount_yuan=data.amount_yuan,
        risk_level=data.risk_level.value,
        escalating=data.escalating,
        converted=not is_dispute_category,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    session.add(dispute)
    await session.flush()
    session.add_all(seal_party(dispute.id, i, p) for i, p in enumerate(data.parties))
    add_timeline(
        session,
        case,
        principal,
        kind="mediation",
        action="registered",
        to_status=Status.registered.value,
        data={
            "dispute_id": str(dispute.id),
            "dispute_type": dispute.dispute_type,
            "people_involved": dispute.people_involved,
            "converted": dispute.converted,
            "level": level,
        },
    )
    await _event(session, case, dispute, principal, "mediation.registered", None)
    await _apply_risk(session, principal, case, dispute, data.risk_level.value)
    await session.flush()
    return dispute


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    dispute: Dispute,
    data: DisputeUpdate,
) -> Dispute:
    if not _coordinator(principal, case, dispute) and not _mediator(
        principal, await mediators(session, dispute.id)
    ):
        raise _not_permitted("update")
    if Status(dispute.status) in lc.FINAL:
        raise Conflict(
            Text("纠纷已办结，不能再修改", "The dispute is finished and cannot be changed"),
            code="dispute_finished",
        )
    changes = data.model_dump(exclude_unset=True, mode="json")
    for key in ("dispute_type", "facts", "people_involved", "amount_yuan", "escalating"):
        if key in data.model_fields_set and getattr(data, key) is not None:
            setattr(dispute, key, getattr(data, key))
    asked = (
        data.risk_level.value
        if data.risk_level
        else (dispute.risk_level if dispute.risk_level != Risk.major.value else Risk.serious.value)
    )
    dispute.version += 1
    dispute.updated_at = utcnow()
    add_timeline(
        session,
        case,
        principal,
        kind="mediation",
        action="updated",
        data={"dispute_id": str(dispute.id), "changes": changes},
    )
    await _apply_risk(session, principal, case, dispute, asked)
    await _event(session, case, dispute, principal, "mediation.updated", None)
    await session.flush()
    return dispute


# ------------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class MemberPick:
    """A grid_service member as read before the transaction (the backup when away)."""

    member_id: uuid.UUID
    account_id: str | None
    name: str
    post: str
    area_path: str
    backup_for_member_id: uuid.UUID | None = None


async def _event(
    session: AsyncSession,
    case: Case,
    dispute: Dispute,
    principal: Principal | None,
    type: str,
    reason: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    await record_event(
        session,
        case,
        type=type,
        actor_id=principal.subject if principal else None,
        action=type,
        reason=reason,
        extra={
            "dispute_id": str(dispute.id),
            "mediation_status": dispute.status,
            "mediation_level": dispute.level,
            "judicial_status": dispute.judicial_status,
            "risk_level": dispute.risk_level,
            **(extra or {}),
        },
    )


def _require(body: MediationActionRequest, action: MediationAction) -> None:
    for name in lc.STEPS[action].needs:
        if getattr(body, name) is None:
            raise _invalid(
                name,
                Text(f"{action.value} 时必填", f"required for {action.value}"),
                Text(f"「{lc.STEPS[action].title[0]}」需要 {name}", f"{action.value} needs {name}"),
                f"{name}_required",
                "missing",
            )


async def act(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    action: MediationAction,
    body: MediationActionRequest,
    picks: list[MemberPick] | None = None,
    now: datetime | None = None,
) -> Dispute:
    now = now or utcnow()
    dispute = await get_for(session, case.id, lock=True)
    if dispute is None:
        raise _no_file()
    step = lc.STEPS[action]
    ms = await mediators(session, dispute.id)
    ts = await terms(session, dispute.id)
    term: DisputeTerm | None = None
    need = lc.TRACK_NEEDS_STATUS.get(step.track)
    if step.track is Track.term:
        if body.term_id is None:
            _require(body, action)
        term = next((t for t in ts if t.id == body.term_id), None)
        if term is None:
            raise _invalid(
                "term_id",
                Text("不是此协议的条款", "not a term of this agreement"),
                Text("没有这个协议条款", "No such agreement term"),
                "unknown_term",
            )
    current = lc.state_of(
        step.track,
        status=dispute.status,
        judicial=dispute.judicial_status,
        performance=term.performance if term else None,
    )
    target = step.moves.get(current) if current is not None else None
    if (need is not None and dispute.status not in need) or target is None:
        raise Conflict(
            Text(
                f"纠纷处于「{lc.STATUS_TITLES[Status(dispute.status)]}」，不能「{step.title[0]}」",
                f"{action.value} is not possible while the dispute is {dispute.status}",
            ),
            code="illegal_mediation_transition",
            extra={
                "mediation_status": dispute.status,
                "judicial_status": dispute.judicial_status,
                "allowed_actions": lc.allowed(
                    dispute.status, dispute.judicial_status, [t.performance for t in ts]
                ),
            },
        )
    coordinator = _coordinator(principal, case, dispute)
    if not (coordinator or (step.by == lc.MEDIATOR and _mediator(principal, ms))):
        raise _not_permitted(action.value)
    _require(body, action)
    before = current
    data: dict[str, Any] = {"dispute_id": str(dispute.id), "level": dispute.level}
    extra: dict[str, Any] = {}
    reason = body.reason or body.note

    handler = _HANDLERS.get(action)
    if handler is not None:
        more = await handler(
            session=session,
            principal=principal,
            case=case,
            dispute=dispute,
            body=body,
            picks=picks,
            mediators=ms,
            terms=ts,
            term=term,
            now=now,
        )
        data.update(more.get("data", {}))
        extra.update(more.get("extra", {}))

    if step.track is Track.dispute:
        dispute.status = target
    elif step.track is Track.judicial:
        dispute.judicial_status = target
    else:
        assert term is not None
        term.performance = target
        session.add(term)
        if all(t.performance == Performance.performed.value for t in ts):
            dispute.status = Status.performed.value
            dispute.closed_at = now
            data["all_performed"] = True
    if Status(dispute.status) in lc.FINAL and dispute.closed_at is None:
        dispute.closed_at = now
    dispute.version += 1
    dispute.updated_at = now
    session.add(dispute)
    add_timeline(
        session,
        case,
        principal,
        kind="mediation",
        action=action.value,
        from_status=before,
        to_status=target,
        reason=reason,
        data={**data, "mediation_status": dispute.status, "title": step.title[0]},
        at=now,
    )
    await _event(session, case, dispute, principal, f"mediation.{action.value}", reason, extra)
    await session.flush()
    return dispute


# ---- the work of each step (rows to write); the state move itself is the table's


def _overdue_timer(session: AsyncSession, case: Case, due_at: datetime) -> None:
    """The one-month limit's timer (the SLA timer worker fires it: :func:`fire_overdue`). An
    earlier limit's timer stays; when it fires the file's ``due_at`` says it was moved."""
    session.add(SlaTimer(case_id=case.id, kind="mediation_overdue", due_at=due_at))


async def _accept(
    session: AsyncSession, *, case: Case, dispute: Dispute, now: datetime, **_: Any
) -> dict[str, Any]:
    dispute.accepted_at = now
    cal = await sla_service.calendar_for(session, dispute.level_area_path)
    dispute.due_at = one_month_limit(cal, now)
    _overdue_timer(session, case, dispute.due_at)
    return {
        "data": {"due_at": dispute.due_at.isoformat()},
        "extra": {"due_at": dispute.due_at.isoformat()},
    }


async def _refuse(*, dispute: Dispute, body: MediationActionRequest, **_: Any) -> dict[str, Any]:
    dispute.refused_reason = body.reason
    return {}


async def _assign(
    session: AsyncSession,
    *,
    principal: Principal,
    dispute: Dispute,
    picks: list[MemberPick] | None,
    mediators: list[DisputeMediator],
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    picks = picks or []
    for i, pick in enumerate(picks):
        if pick.post not in MEDIATION_POSTS:
            raise _invalid(
                f"member_ids[{i}]",
                Text(
                    "不是调解员、律师、公证员或信息员",
                    "not a mediator, lawyer, notary or informant",
                ),
                Text("只能指派调解团队成员", "Only members of the mediation team can be assigned"),
                "not_a_mediation_post",
            )
        if not (
            pick.area_path == dispute.level_area_path
            or pick.area_path.startswith(dispute.level_area_path + ".")
        ):
            raise _invalid(
                f"member_ids[{i}]",
                Text("不在当前调解层级的辖区内", "outside the level handling the dispute"),
                Text(
                    "调解员须属于当前调解层级", "Mediators come from the level handling the dispute"
                ),
                "mediator_outside_level",
            )
    have = {m.member_id for m in mediators if m.active}
    added = []
    for pick in picks:
        if pick.member_id in have:
            continue
        row = DisputeMediator(
            dispute_id=dispute.id,
            member_id=pick.member_id,
            account_id=pick.account_id,
            name=pick.name,
            post=pick.post,
            area_path=pick.area_path,
            level=dispute.level,
            backup_for_member_id=pick.backup_for_member_id,
            assigned_by=principal.subject,
            assigned_at=now,
        )
        session.add(row)
        added.append(row)
    accounts = [m.account_id for m in [*mediators, *added] if m.active and m.account_id]
    return {
        "data": {
            "mediators": [
                {
                    "member_id": str(m.member_id),
                    "name": m.name,
                    "post": m.post,
                    "backup_for_member_id": str(m.backup_for_member_id)
                    if m.backup_for_member_id
                    else None,
                }
                for m in added
            ]
        },
        "extra": {"assignee_account_ids": list(dict.fromkeys(accounts))},
    }


async def _schedule(
    session: AsyncSession,
    *,
    principal: Principal,
    dispute: Dispute,
    body: MediationActionRequest,
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    assert body.session is not None
    if body.session.starts_at.tzinfo is None:
        raise _invalid(
            "session.starts_at",
            Text("须带时区", "needs a time zone"),
            Text("调解时间须带时区", "The session time needs a time zone"),
            "naive_datetime",
        )
    if body.session.starts_at < now - timedelta(minutes=5):
        raise _invalid(
            "session.starts_at",
            Text("不能早于当前时间", "in the past"),
            Text("调解时间已过", "The session time has passed"),
            "session_in_past",
        )
    existing = await sessions(session, dispute.id)
    number = (existing[-1].number if existing else 0) + 1
    ps = await parties(session, dispute.id)
    sealed = [p.phone for p in ps if p.phone]
    row = DisputeSession(
        dispute_id=dispute.id,
        number=number,
        level=dispute.level,
        starts_at=body.session.starts_at,
        place=body.session.place,
        attendees=body.session.attendees,
        notified=len(sealed),
        created_by=principal.subject,
        created_at=now,
    )
    session.add(row)
    local = body.session.starts_at.astimezone(sla_service._hours["tz"]).strftime("%Y-%m-%d %H:%M")
    return {
        "data": {
            "session_number": number,
            "starts_at": body.session.starts_at.isoformat(),
            "place": body.session.place,
            "parties_notified": len(sealed),
        },
        # the parties' phones stay sealed in the outbox; the relay opens them to post
        "extra": {
            "session_number": number,
            "session_time": local,
            "session_place": body.session.place,
            "contacts_sealed": sealed,
        },
    }


async def _record(
    session: AsyncSession,
    *,
    principal: Principal,
    dispute: Dispute,
    body: MediationActionRequest,
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                sa.select(DisputeSession).where(
                    col(DisputeSession.dispute_id) == dispute.id,
                    col(DisputeSession.number) == body.session_number,
                )
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise _invalid(
            "session_number",
            Text("没有这次调解", "no such session"),
            Text("没有这次调解", "No such session"),
            "unknown_session",
        )
    row.record = body.record
    row.recorded_at = now
    row.recorded_by = principal.subject
    session.add(row)
    return {"data": {"session_number": row.number}}


async def _extend(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    dispute: Dispute,
    body: MediationActionRequest,
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    assert body.consents is not None
    assert body.days is not None
    for side, given in (
        ("applicant", body.consents.applicant),
        ("respondent", body.consents.respondent),
    ):
        if not given:
            raise _invalid(
                f"consents.{side}",
                Text("须经双方当事人同意", "both parties must consent"),
                Text("延长调解期限须经双方当事人同意", "An extension needs both parties' consent"),
                "consent_required",
            )
    cal = await sla_service.calendar_for(session, dispute.level_area_path)
    base = dispute.due_at or now
    due = _end_of_workday_on_or_after(
        cal, base.astimezone(cal.tz).date() + timedelta(days=body.days)
    )
    entry = {
        "days": body.days,
        "from": base.isoformat(),
        "until": due.isoformat(),
        "reason": body.reason,
        "applicant_consent": True,
        "respondent_consent": True,
        "by": principal.subject,
        "at": now.isoformat(),
    }
    dispute.extensions = [*(dispute.extensions or []), entry]
    dispute.due_at = due
    _overdue_timer(session, case, due)
    return {"data": {"extension": entry}, "extra": {"due_at": due.isoformat()}}


async def _agree(
    session: AsyncSession,
    *,
    case: Case,
    dispute: Dispute,
    body: MediationActionRequest,
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    assert body.terms is not None
    tz = sla_service._hours["tz"]
    today = now.astimezone(tz).date()
    for i, t in enumerate(body.terms):
        if t.deadline_on < today:
            raise _invalid(
                f"terms[{i}].deadline_on",
                Text("早于协议日期", "before the agreement"),
                Text("履行期限不能早于协议日期", "A performance deadline is before the agreement"),
                "deadline_in_past",
            )
    dispute.responsibility = body.responsibility
    dispute.agreed_at = now
    rows = []
    for i, t in enumerate(body.terms):
        due = datetime.combine(t.deadline_on + timedelta(days=1), time(0), tz).astimezone(UTC)
        row = DisputeTerm(
            dispute_id=dispute.id,
            ord=i,
            content=t.content,
            manner=t.manner,
            place=t.place,
            deadline_on=t.deadline_on,
            visit_due_at=due,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    # the return visit falls due at each performance deadline (the timer worker fires it)
    session.add_all(
        SlaTimer(case_id=case.id, kind="visit_due", dispute_term_id=r.id, due_at=r.visit_due_at)
        for r in rows
    )
    return {
        "data": {"terms": len(rows)},
        "extra": {"confirmation_due_on": str(confirmation_due_on(dispute))},
    }


async def _fail(*, dispute: Dispute, body: MediationActionRequest, **_: Any) -> dict[str, Any]:
    dispute.outcome_reason = body.reason
    return {}


async def _refer_up(
    session: AsyncSession,
    *,
    case: Case,
    dispute: Dispute,
    mediators: list[DisputeMediator],
    now: datetime,
    **_: Any,
) -> dict[str, Any]:
    index = lc.LEVELS.index(dispute.level) if dispute.level in lc.LEVELS else len(lc.LEVELS)
    for level in lc.LEVELS[index + 1 :]:
        path = level_path(case, level)
        if path:
            break
    else:
        raise Conflict(
            Text(
                "已是最高调处层级（难事市终结）：请转行政调解或告知诉讼",
                "Already at the top level: refer to a department or advise court",
            ),
            code="no_level_above",
        )
    before = dispute.level
    dispute.level, dispute.level_area_path = level, path
    for m in mediators:
        if m.active:
            m.active = False
            session.add(m)
    dispute.accepted_at = now
    cal = await sla_service.calendar_for(session, path)
    dispute.due_at = one_month_limit(cal, now)
    _overdue_timer(session, case, dispute.due_at)
    return {
        "data": {
            "from_level": before,
            "to_level": level,
            "to_area_path": path,
            "level_title": lc.LEVEL_TITLES[level],
        },
        "extra": {"levels_above": [path], "referred_to": path},
    }


async def _refer_department(
    *, dispute: Dispute, body: MediationActionRequest, **_: Any
) -> dict[str, Any]:
    dispute.referred_department_id = body.department_id
    dispute.outcome_reason = body.reason
    return {
        "data": {"department_id": body.department_id},
        "extra": {"department_ids": [body.department_id]},
    }


async def _advise_court(
    *, dispute: Dispute, body: MediationActionRequest, terms: list[DisputeTerm], **_: Any
) -> dict[str, Any]:
    if dispute.status == Status.agreed.value and not any(
        t.performance in (Performance.not_performed.value, Performance.urged.value) for t in terms
    ):
        raise Conflict(
            Text(
                "协议未见不履行，不能告知诉讼", "No term is unperformed: nothing to take to court"
            ),
            code="performance_not_refused",
        )
    dispute.outcome_reason = body.reason
    return {}


async def _apply_confirmation(
    *, dispute: Dispute, body: MediationActionRequest, now: datetime, **_: Any
) -> dict[str, Any]:
    due = confirmation_due_on(dispute)
    if due is not None and now.astimezone(sla_service._hours["tz"]).date() > due:
        raise Conflict(
            Text(
                f"协议生效已超过{CONFIRMATION_DAYS}日（截至 {due}），不能申请司法确认",
                f"More than {CONFIRMATION_DAYS} days since the agreement (until {due})",
            ),
            code="confirmation_window_passed",
        )
    dispute.judicial_court = body.court
    dispute.judicial_applied_at = now
    return {"data": {"court": body.court}}


async def _decide_confirmation(*, dispute: Dispute, now: datetime, **_: Any) -> dict[str, Any]:
    dispute.judicial_decided_at = now
    return {}


async def _visit(
    *, term: DisputeTerm | None, body: MediationActionRequest, now: datetime, **_: Any
) -> dict[str, Any]:
    assert term is not None
    term.visited_at = now
    term.visit_note = body.note
    return {
        "data": {"term_id": str(term.id), "term": term.ord + 1},
        "extra": {"term_id": str(term.id)},
    }


async def _urge(
    *, term: DisputeTerm | None, body: MediationActionRequest, now: datetime, **_: Any
) -> dict[str, Any]:
    assert term is not None
    term.urged_at = now
    term.visit_note = body.note
    return {
        "data": {"term_id": str(term.id), "term": term.ord + 1},
        "extra": {"term_id": str(term.id)},
    }


_HANDLERS: dict[MediationAction, Any] = {
    MediationAction.accept: _accept,
    MediationAction.refuse: _refuse,
    MediationAction.assign: _assign,
    MediationAction.schedule_session: _schedule,
    MediationAction.record_session: _record,
    MediationAction.extend: _extend,
    MediationAction.agree: _agree,
    MediationAction.fail: _fail,
    MediationAction.refer_up: _refer_up,
    MediationAction.refer_department: _refer_department,
    MediationAction.advise_court: _advise_court,
    MediationAction.apply_confirmation: _apply_confirmation,
    MediationAction.confirm: _decide_confirmation,
    MediationAction.refuse_confirmation: _decide_confirmation,
    MediationAction.visit_performed: _visit,
    MediationAction.visit_not_performed: _visit,
    MediationAction.urge: _urge,
}


# ------------------------------------------------------------------------------- timers


async def fire_visit_due(
    session: AsyncSession, case: Case, term_id: uuid.UUID | None, now: datetime
) -> None:
    """The timer of a term's performance deadline: the return visit (回访) falls due."""
    if term_id is None:
        return
    term = await session.get(DisputeTerm, term_id, with_for_update=True)
    if term is None or term.performance != Performance.pending.value:
        return
    dispute = await session.get(Dispute, term.dispute_id)
    if dispute is None or dispute.status != Status.agreed.value:
        return
    ms = await mediators(session, dispute.id)
    accounts = list(dict.fromkeys(m.account_id for m in ms if m.active and m.account_id))
    add_timeline(
        session,
        case,
        None,
        kind="mediation",
        action="visit_due",
        at=now,
        reason=f"协议第{term.ord + 1}项履行期限（{term.deadline_on}）已到，请回访",
        data={
            "dispute_id": str(dispute.id),
            "term_id": str(term.id),
            "deadline_on": str(term.deadline_on),
        },
    )
    await _event(
        session,
        case,
        dispute,
        None,
        "mediation.visit_due",
        None,
        {
            "term_id": str(term.id),
            "assignee_account_ids": accounts,
            "deadline_on": str(term.deadline_on),
        },
    )


async def due_visits(
    session: AsyncSession, dispute_id: uuid.UUID, now: datetime
) -> list[DisputeTerm]:
    return [
        t
        for t in await terms(session, dispute_id)
        if t.performance == Performance.pending.value and t.visit_due_at <= now
    ]


async def fire_overdue(session: AsyncSession, case: Case, now: datetime) -> None:
    """The one-month limit passed with the mediation still open: an alert (timeline entry,
    ``mediation.overdue`` to the outbox and webhooks) and a notice to the mediators, the
    level's dispatchers and grid leaders and the supervisors over it."""
    dispute = await get_for(session, case.id, lock=True)
    if dispute is None or dispute.due_at is None or dispute.due_at > now:
        return  # extended since (a later timer answers for the new limit)
    if dispute.status not in (Status.accepted.value, Status.mediating.value):
        return
    ms = await mediators(session, dispute.id)
    accounts = list(dict.fromkeys(m.account_id for m in ms if m.active and m.account_id))
    local = dispute.due_at.astimezone(sla_service._hours["tz"]).strftime("%Y-%m-%d %H:%M")
    add_timeline(
        session,
        case,
        None,
        kind="mediation",
        action="overdue",
        at=now,
        reason=f"调解期限（{local}）已过，纠纷仍未调结",
        data={"dispute_id": str(dispute.id), "due_at": dispute.due_at.isoformat()},
    )
    await _event(
        session,
        case,
        dispute,
        None,
        "mediation.overdue",
        None,
        {"assignee_account_ids": accounts, "due_at": dispute.due_at.isoformat()},
    )
    await notices.write(
        session,
        kind="overdue",
        dedup_key=f"overdue:{dispute.id}:{dispute.due_at.isoformat()}",
        template_key="mediation_overdue",
        variables={"case_number": case.case_number, "deadline": local},
        recipients={
            "account_ids": accounts,
            "responsible": [
                {
                    "paths": [dispute.level_area_path],
                    "roles": ["dispatcher", "grid_leader"],
                    "match": "exact",
                },
                {"paths": [dispute.level_area_path], "roles": ["supervisor"], "match": "covering"},
            ],
        },
    )
