"""Business rules of cases: who may file how, the lifecycle actions' checks and their changes
to the case and its assignments, comments, the public reply. Flush, never commit.

Every change bumps ``case.version`` and appends to the timeline, in the caller's transaction;
what the other domains do about it (the outbox event, deadlines, evaluations, attachments) is
``case_service.actions``, the workflow above them. Actions lock the case row
(``SELECT … FOR UPDATE``) first, so two concurrent actions on one case serialise: the second
sees the first's result and gets a 412 (stale ``If-Match``) or a 409 (``illegal_transition``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases import access, repository
from case_service.cases.lifecycle import (
    EVENT_TYPES,
    FINAL,
    NEEDS_REASON,
    OPEN,
    PUBLIC_ACTIONS,
    Action,
    Status,
    actions_from,
    is_major,
    next_status,
)
from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from case_service.cases.schemas import (
    RESIDENT_CHANNELS,
    AssigneeIn,
    CaseActionRequest,
    CaseCreate,
    Channel,
    CommentCreate,
    NotificationRecord,
    PublicReplyWrite,
)
from case_service.categories import repository as categories
from case_service.categories.schemas import (
    HandlingClass,
    Routing,
)
from case_service.config import Settings
from shared.auth import Principal, Role
from shared.db import new_row, utcnow
from shared.i18n import Text
from shared.problem import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)

STAFF_ROLES = (
    Role.grid_worker,
    Role.grid_leader,
    Role.dispatcher,
    Role.department_handler,
    Role.supervisor,
    Role.admin,
)


@dataclass(frozen=True)
class Located:
    """Where a case is, as grid_service answered (read before the transaction opens)."""

    area_path: str
    area_chain: list[dict[str, Any]] = field(default_factory=list)
    area_id: uuid.UUID | None = None
    area_code: str | None = None
    area_name: str | None = None
    lat: float | None = None
    lng: float | None = None
    #: the standard address (标准地址) the address matched, in grid_service
    address_id: uuid.UUID | None = None
    #: ``located``, or ``to_locate`` (待定位): kept at the filer's area, waiting to be placed
    location_status: str = "located"
    #: how the place was found, for the timeline (``point``, or the address match's outcome)
    how: dict[str, Any] = field(default_factory=dict)

    def first_handling_level(self) -> tuple[str, str | None]:
        """Cases start at the community (小事不出村) — or the located area when the tree has no
        community level. Issue 5's time limits hang off ``handling_level``."""
        for entry in self.area_chain:
            if entry.get("level") == "community":
                return entry["path"], entry.get("level")
        last = self.area_chain[-1] if self.area_chain else {}
        return self.area_path, last.get("level")


def _not_found() -> NotFound:
    return NotFound(Text("没有这个案件", "No such case"), code="case_not_found")


def _invalid(field_name: str, reason: Text, detail: Text, code: str) -> ValidationFailed:
    return ValidationFailed(
        detail, code=code, errors=[FieldProblem(field=field_name, reason=reason)]
    )


def add_timeline(
    session: AsyncSession,
    case: Case,
    principal: Principal | None,
    *,
    kind: str,
    action: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    visibility: str = "internal",
    attachment_ids: list[uuid.UUID] | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEntry:
    entry = new_row(
        TimelineEntry,
        **timeline_values(
            case,
            principal,
            kind=kind,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            visibility=visibility,
            attachment_ids=attachment_ids,
            data=data,
            at=at,
        ),
    )
    session.add(entry)
    return entry


def timeline_values(
    case: Case,
    principal: Principal | None,
    *,
    kind: str,
    action: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    visibility: str = "internal",
    attachment_ids: list[uuid.UUID] | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The columns of a timeline entry of ``case`` at its current version."""
    return {
        "id": uuid.uuid4(),
        "case_id": case.id,
        "kind": kind,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "actor_id": principal.subject if principal else None,
        "actor_roles": sorted(principal.roles) if principal else [],
        "reason": reason,
        "visibility": visibility,
        "attachment_ids": list(attachment_ids or []),
        "data": data or {},
        "case_version": case.version,
        "created_at": at or utcnow(),
    }


# ---------------------------------------------------------------------------------- intake


def check_channel(principal: Principal, data: CaseCreate) -> None:
    """Who may file through which channel (and name a source)."""
    staff = principal.has_role(*STAFF_ROLES)
    if principal.has_role(Role.platform) and not staff:
        if data.source is None:
            raise _invalid(
                "source",
                Text("平台客户端必填", "required for platform clients"),
                Text(
                    "平台推送必须提供 source 和 external_id",
                    "A platform must send source and external_id",
                ),
                "source_required",
            )
        if data.source != access.platform_source(principal):
            # a platform names only itself: another's source would read that platform's case
            # by its external_id, and send this case to that platform's webhooks
            raise _invalid(
                "source",
                Text("须为本平台的客户端标识", "must be this platform's own client id"),
                Text(
                    "source 须为本平台的客户端标识",
                    "A platform sends its own client id as source",
                ),
                "source_not_yours",
            )
        return
    if data.source is not None:
        raise _invalid(
            "source",
            Text(
                "只有平台客户端才能传 source/external_id",
                "only platform clients send source/external_id",
            ),
            Text(
                "source 和 external_id 供其他平台推送案件使用",
                "source and external_id are for other platforms pushing cases in",
            ),
            "source_not_allowed",
        )
    if not staff and data.channel not in RESIDENT_CHANNELS:
        raise _invalid(
            "channel",
            Text(
                f"群众通过 {'、'.join(sorted(c.value for c in RESIDENT_CHANNELS))} 上报",
                f"residents report through {', '.join(sorted(c.value for c in RESIDENT_CHANNELS))}",
            ),
            Text("此渠道供工作人员或其他平台使用", "This channel is for staff or other platforms"),
            "channel_not_allowed",
        )
    if data.channel is Channel.patrol and not principal.has_role(Role.grid_worker):
        raise _invalid(
            "channel",
            Text("巡查上报只能由网格员提交", "patrol reports come from grid workers"),
            Text("不是网格员", "Not a grid worker"),
            "channel_not_allowed",
        )


# ---------------------------------------------------------------------------------- reads


async def get_visible(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
    case = await repository.get(session, case_id)
    if case is None or not access.can_see(principal, case):
        raise _not_found()
    return case


# ---------------------------------------------------------------------------------- actions


def _check_version(case: Case, if_match: int | None) -> None:
    if if_match is not None and if_match != case.version:
        raise PreconditionFailed(
            Text(
                f"案件当前版本为 {case.version}，不是 {if_match}；请刷新后重试",
                f"The case is at version {case.version}, not {if_match}; reload it and retry",
            ),
            code="version_mismatch",
            headers={"ETag": f'"{case.version}"'},
            extra={"current_version": case.version},
        )


def require(body: CaseActionRequest, name: str, action: Action) -> Any:
    """The action's own field ``name`` of ``body``, else a 422 ``<name>_required``."""
    value = getattr(body, name)
    if value is None:
        raise _invalid(
            name,
            Text(f"{action.value} 时必填", f"required for {action.value}"),
            Text(f"{action.value} 需要 {name}", f"{action.value} needs {name}"),
            f"{name}_required",
        )
    return value


def _activate(case: Case, rows: list[CaseAssignment]) -> None:
    """Keep the case's handler columns (scope and list filters) in step with assignments:
    everyone ever assigned keeps seeing the case."""
    accounts = list(case.assignee_account_ids)
    departments = list(case.department_ids)
    for a in rows:
        if a.account_id and a.account_id not in accounts:
            accounts.append(a.account_id)
        if a.department_id and a.department_id not in departments:
            departments.append(a.department_id)
    case.assignee_account_ids = accounts
    case.department_ids = departments


def _end_active(rows: list[CaseAssignment], state: str, now: datetime) -> None:
    for a in rows:
        if a.state == "active":
            a.state = state
            a.finished_at = now


async def _dispatch(
    session: AsyncSession,
    case: Case,
    principal: Principal,
    body: CaseActionRequest,
    rows: list[CaseAssignment],
    action: Action,
    now: datetime,
) -> tuple[dict[str, Any], list[CaseAssignment]]:
    """Dispatch or reassign: the timeline data and the new assignments."""
    assignees = body.assignees
    if not assignees:
        if case.routing == Routing.owner.value and action is Action.dispatch:
            category = await categories.get_version(session, case.category_id)
            if category is not None and category.owner_department_id:
                assignees = [AssigneeIn(department_id=category.owner_department_id, role="lead")]
        if not assignees:
            raise _invalid(
                "assignees",
                Text("必填：一个主办，协办可选", "required: one lead and any co-handlers"),
                Text(
                    f"{action.value} 需要指定办理对象（assignees）",
                    f"{action.value} needs assignees",
                ),
                "assignees_required",
            )
    leads = [a for a in assignees if a.role == "lead"]
    if len(leads) != 1:
        raise _invalid(
            "assignees",
            Text("须有且只有一个主办", "exactly one lead (主办)"),
            Text("须指定一个主办", "One lead is required"),
            "one_lead_required",
        )
    keys = [(a.account_id, a.department_id) for a in assignees]
    if len(set(keys)) != len(keys):
        raise _invalid(
            "assignees",
            Text("重复列出", "listed twice"),
            Text("同一个办理对象被列了两次", "An assignee is listed twice"),
            "duplicate_assignee",
        )
    _end_active(rows, "ended", now)
    new = [
        CaseAssignment(
            case_id=case.id,
            role=a.role,
            account_id=a.account_id,
            department_id=a.department_id,
            assigned_by=principal.subject,
            assigned_at=now,
        )
        for a in assignees
    ]
    session.add_all(new)
    _activate(case, new)
    if len(new) > 1:
        case.handling_class = HandlingClass.joint.value
    return {"assignees": [a.model_dump(exclude_none=True) for a in assignees]}, new


def check_action(
    principal: Principal,
    case: Case | None,
    action: Action,
    rows: list[CaseAssignment],
    *,
    if_match: int | None,
    reason: str | None,
) -> Status:
    """Whether ``principal`` may take ``action`` on ``case`` now: 404, 412, 409, 403 or the
    missing reason (422); answers the status after the action."""
    if case is None or not access.can_see(principal, case):
        raise _not_found()
    _check_version(case, if_match)
    current = Status(case.status)
    target = next_status(action, current)
    if target is None:
        raise Conflict(
            Text(
                f"案件处于 {current.value} 状态，不能 {action.value}",
                f"{action.value} is not possible while the case is {current.value}",
            ),
            code="illegal_transition",
            extra={"case_status": current.value, "allowed_actions": actions_from(current)},
        )
    if not access.may_take(principal, case, action, rows):
        if action is Action.reopen and case.reporter_account_id == principal.subject:
            url = f"/api/v1/cases/{case.id}/reopen-requests"
            raise Forbidden(
                Text(
                    f"报告人不能直接重新打开案件：请先评价为不满意，"
                    f"再通过 POST {url} 申请重办，由派遣员决定",
                    f"A reporter does not reopen a case: ask to reopen at POST {url} after rating "
                    "it dissatisfied, and a dispatcher decides",
                ),
                code="reopen_by_request",
                extra={"reopen_request_url": url},
            )
        raise Forbidden(
            Text(f"您不能对此案件执行 {action.value}", f"You may not {action.value} this case"),
            code="action_not_permitted",
        )
    if action in NEEDS_REASON and reason is None:
        raise _invalid(
            "reason",
            Text(f"{action.value} 时必填", f"required for {action.value}"),
            Text(f"{action.value} 需要 reason", f"{action.value} needs reason"),
            "reason_required",
        )
    return target


def _place(principal: Principal, case: Case, located: Located) -> tuple[dict[str, Any], ...]:
    """The locate action: the case moves to the grid found for it (and to the handling level
    of that grid's community); it is ``located`` from now on."""
    field_name = "address_id" if located.address_id is not None else "lat"
    if not principal.has_role(Role.admin) and not access.covers(principal, located.area_path):
        raise _invalid(
            field_name,
            Text("不在您的辖区内", "outside your areas"),
            Text(
                f"{located.area_path} 不在您的辖区内：请交由该辖区定位",
                f"{located.area_path} lies outside your areas: leave the case to that jurisdiction",
            ),
            "location_outside_your_areas",
        )
    before = {
        "area_path": case.area_path,
        "handling_area_path": case.handling_area_path,
        "location_status": case.location_status,
    }
    case.area_path = located.area_path
    case.area_chain = located.area_chain
    case.area_id = located.area_id
    case.area_code = located.area_code
    case.area_name = located.area_name
    case.lat, case.lng = located.lat, located.lng
    case.address_id = located.address_id
    # A 待定位 case was only kept at the filer's area: it starts at its grid's community.
    # A located case moved within the levels handling it (escalated to the street, say)
    # stays there; moved elsewhere, it starts at the new community.
    chain = [e.get("path") for e in located.area_chain]
    if case.location_status == "to_locate" or case.handling_area_path not in chain:
        case.handling_area_path, case.handling_level = located.first_handling_level()
    case.location_status = "located"
    after = {
        "area_path": case.area_path,
        "handling_area_path": case.handling_area_path,
        "handling_level": case.handling_level,
        "address_id": str(case.address_id) if case.address_id else None,
        "lat": case.lat,
        "lng": case.lng,
    }
    data = {"from": before, "to": after, **located.how}
    extra = {"from_area_path": before["area_path"], "address_id": after["address_id"]}
    return data, extra


@dataclass
class Taking:
    """An action about to be taken: the locked case, its assignments, where it goes."""

    case: Case
    rows: list[CaseAssignment]
    action: Action
    current: Status
    target: Status
    now: datetime


@dataclass
class Taken:
    """What :func:`make_changes` did, for the workflow to tell the other domains."""

    case: Case
    #: every assignment of the case (the new ones too), ordered by (assigned_at, id) as
    #: :func:`repository.assignments` reads them
    rows: list[CaseAssignment]
    previous: str
    event_type: str
    extra: dict[str, Any]
    priority_changed: bool
    newly_major: bool
    #: merge: the master case, changed and flushed (its supporter event is the workflow's)
    master: Case | None


async def begin_action(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    action: Action,
    body: CaseActionRequest,
    if_match: int | None,
    now: datetime | None = None,
) -> Taking:
    """Lock the case (``SELECT … FOR UPDATE``), read its assignments and check that
    ``principal`` may take ``action`` with ``body``: 404, 412, 409, 403 or 422."""
    case = await repository.get(session, case_id, lock=True)
    rows = await repository.assignments(session, case.id) if case is not None else []
    target = check_action(principal, case, action, rows, if_match=if_match, reason=body.reason)
    assert case is not None
    current = Status(case.status)
    if action is not Action.accept:
        for name in ("priority", "major"):
            if getattr(body, name) is not None:
                raise _invalid(
                    name,
                    Text("只能在受理（accept）时设定", "set only with accept"),
                    Text(
                        f"{name} 由派遣员在受理时决定，不能随 {action.value} 修改",
                        f"The dispatcher decides {name} at accept, not with {action.value}",
                    ),
                    "only_at_accept",
                )
    if body.public_reply is not None and action not in PUBLIC_REPLY_ACTIONS:
        raise _invalid(
            "public_reply",
            Text(
                "只有办结、不予受理和作废时可写公开答复",
                "only resolve, reject and void take a public reply",
            ),
            Text(
                f"{action.value} 不接受公开答复（public_reply）；"
                "其他时候请用 PUT /api/v1/cases/{id}/public-reply",
                f"{action.value} takes no public_reply; at other times use "
                "PUT /api/v1/cases/{id}/public-reply",
            ),
            "public_reply_not_accepted",
        )
    return Taking(
        case=case,
        rows=rows,
        action=action,
        current=current,
        target=target,
        now=now or utcnow(),
    )


async def make_changes(
    session: AsyncSession,
    taking: Taking,
    *,
    principal: Principal,
    body: CaseActionRequest,
    settings: Settings,
    located: Located | None = None,
) -> Taken:
    """The action's changes to the case and its assignments, and its timeline entries
    (nothing flushed but a merge's master); ``locate`` needs ``located`` (grid_service's
    answer, asked before the transaction opened). ``rate``: the evaluation is the
    workflow's, stored before this is called."""
    case, rows, action, now = taking.case, taking.rows, taking.action, taking.now
    current, target = taking.current, taking.target
    new_rows: list[CaseAssignment] = []
    master: Case | None = None

    data: dict[str, Any] = {}
    kind = "transition"
    extra: dict[str, Any] = {}
    event_type = EVENT_TYPES[action]

    priority_changed = False
    newly_major = False
    if action is Action.accept:
        # The dispatcher decides on what the reporter asked for (requested_priority/-major).
        decided: dict[str, Any] = {}
        if body.priority is not None and body.priority.value != case.priority:
            decided["priority"] = {"from": case.priority, "to": body.priority.value}
            case.priority = body.priority.value
            priority_changed = True
        if body.major is not None and body.major != case.major:
            decided["major"] = {"from": case.major, "to": body.major}
            newly_major = body.major and not is_major(case)
            case.major = body.major
        if decided:
            if case.requested_priority is not None:
                decided["requested_priority"] = case.requested_priority
            if case.requested_major:
                decided["requested_major"] = True
            data = decided
    elif action in {Action.dispatch, Action.reassign}:
        data, new_rows = await _dispatch(session, case, principal, body, rows, action, now)
        kind = "reassignment" if action is Action.reassign else "transition"
    elif action is Action.return_:
        _end_active(rows, "returned", now)
    elif action is Action.resolve:
        result = require(body, "result", action)
        mine = access.handler_assignment(principal, rows)
        assert mine is not None  # may_take checked it
        mine.state = "finished"
        mine.result = result
        mine.finished_at = now
        pending = [a for a in rows if a.state == "active"]
        if pending:
            target = current  # a joint case waits for every handler's part
            kind = "part_finished"
            event_type = "case.part_finished"
            data = {"pending": len(pending), "role": mine.role}
        else:
            lead = next((a for a in rows if a.role == "lead" and a.state == "finished"), mine)
            case.result = lead.result
            case.resolved_at = now
    elif action is Action.escalate:
        chain = [e["path"] for e in case.area_chain]
        if case.handling_area_path not in chain or chain.index(case.handling_area_path) == 0:
            raise Conflict(
                Text("已是最高层级，无法再上报", "There is no level above this one"),
                code="no_level_above",
            )
        above = case.area_chain[chain.index(case.handling_area_path) - 1]
        data = {"from_level": case.handling_area_path, "to_level": above["path"]}
        case.handling_area_path = above["path"]
        case.handling_level = above.get("level")
        _end_active(rows, "ended", now)
        extra = {"escalated_to": above["path"]}
    elif action is Action.verify:
        if case.self_handled and principal.subject in case.assignee_account_ids:
            raise Forbidden(
                Text(
                    "现场处置的案件须由他人核查",
                    "A case resolved on the spot is verified by someone else",
                ),
                code="verifier_is_resolver",
            )
        case.closed_at = now  # the rating request's keys are the workflow's
    elif action is Action.rework:
        # the handlers of the last dispatch (one timestamp) take it up again
        last_round = max((a.assigned_at for a in rows), default=None)
        for a in rows:
            if a.state == "finished" and a.assigned_at == last_round:
                a.state = "active"
                a.finished_at = None
        case.resolved_at = None
        case.result = None
    elif action is Action.suspend:
        case.suspended_from = current.value
    elif action is Action.resume:
        target = Status(case.suspended_from or Status.accepted.value)
        case.suspended_from = None
    elif action is Action.reopen:
        closed_at = case.closed_at or case.updated_at
        if now - closed_at > timedelta(days=settings.reopen_window_days):
            raise Conflict(
                Text(
                    f"案件结案后 {settings.reopen_window_days} 天内才能重新打开",
                    f"Cases can be reopened within {settings.reopen_window_days} days of closing",
                ),
                code="reopen_window_passed",
            )
        case.closed_at = None
    elif action is Action.rate:
        rating = require(body, "rating", action)
        kind = "rating"
        data = {"rating": rating}
        extra = {"rating": rating}
    elif action is Action.merge:
        into = require(body, "into_case_id", action)
        master = await _merge(session, principal, case, into, now)
        data = {"into_case_id": str(into)}
        extra = {"merged_into_id": str(into)}
    elif action is Action.locate:
        if located is None:
            raise _invalid(
                "lat",
                Text("请给出经纬度或标准地址", "give lat/lng or an address_id"),
                Text("定位需要位置", "locate needs a location"),
                "location_required",
            )
        data, extra = _place(principal, case, located)
        kind = "location"

    if body.public_reply is not None:
        case.public_reply = body.public_reply
    previous = current.value
    case.status = target.value
    case.version += 1
    case.updated_at = now
    session.add(case)
    for a in rows:
        session.add(a)
    add_timeline(
        session,
        case,
        principal,
        kind=kind,
        action=action.value,
        from_status=previous,
        to_status=target.value,
        reason=body.reason or (body.result if action is Action.resolve else None),
        visibility="public" if action in PUBLIC_ACTIONS and kind != "part_finished" else "internal",
        attachment_ids=body.attachment_ids,
        data=data,
        at=now,
    )
    if body.public_reply is not None:
        _public_reply_entry(session, case, principal, body.public_reply, now)
        extra = {**extra, "public_reply": body.public_reply}
    everyone = rows + new_rows if new_rows else rows
    if new_rows:
        everyone = sorted(everyone, key=lambda a: (a.assigned_at, a.id))
    return Taken(
        case=case,
        rows=everyone,
        previous=previous,
        event_type=event_type,
        extra=extra,
        priority_changed=priority_changed,
        newly_major=newly_major,
        master=master,
    )


async def _merge(
    session: AsyncSession, principal: Principal, case: Case, into: uuid.UUID, now: datetime
) -> Case:
    """Merge ``case`` into the master case ``into``: the master, changed and flushed (its
    ``case.supporter_added`` event is the workflow's)."""
    if into == case.id:
        raise _invalid(
            "into_case_id",
            Text("案件不能合并到自身", "a case cannot merge into itself"),
            Text("合并有误", "Bad merge"),
            "merge_into_self",
        )
    master = await repository.get(session, into, lock=True)
    if master is None or not access.can_see(principal, master):
        raise _invalid(
            "into_case_id",
            Text("没有这个案件", "no such case"),
            Text("主案件不存在", "The master case does not exist"),
            "unknown_master_case",
        )
    if Status(master.status) in FINAL or master.status == Status.closed.value:
        raise Conflict(
            Text("主案件已不在办理中", "The master case is no longer open"), code="master_not_open"
        )
    case.merged_into_id = master.id
    master.supporter_count += 1 + case.supporter_count
    master.version += 1
    master.updated_at = now
    session.add(master)
    await session.flush()
    add_timeline(
        session,
        master,
        principal,
        kind="merge",
        action="merge",
        from_status=master.status,
        to_status=master.status,
        visibility="public",
        data={"merged_case_id": str(case.id), "supporter_count": master.supporter_count},
        at=now,
    )
    return master


# ---------------------------------------------------------------------------------- public reply

#: the actions whose body may carry the public reply (公开答复); any other time it is written
#: with ``set_public_reply``
PUBLIC_REPLY_ACTIONS = frozenset({Action.resolve, Action.reject, Action.void})


def _public_reply_entry(
    session: AsyncSession, case: Case, principal: Principal, text: str | None, now: datetime
) -> None:
    add_timeline(
        session,
        case,
        principal,
        kind="public_reply",
        reason=text,
        visibility="public",
        data={"withdrawn": text is None},
        at=now,
    )


async def write_public_reply(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    body: PublicReplyWrite,
    if_match: int | None,
) -> Case:
    """Write (or withdraw, ``None``) the public reply: staff who see the case (flushed; the
    event is the workflow's, ``actions.set_public_reply``)."""
    case = await repository.get(session, case_id, lock=True)
    if case is None or not access.can_see(principal, case):
        raise _not_found()
    if not principal.has_role(*STAFF_ROLES):
        raise Forbidden(
            Text("只有工作人员可以写公开答复", "Only staff write the public reply"),
            code="public_reply_not_permitted",
        )
    _check_version(case, if_match)
    now = utcnow()
    case.public_reply = body.body
    case.version += 1
    case.updated_at = now
    session.add(case)
    _public_reply_entry(session, case, principal, body.body, now)
    await session.flush()
    return case


# ---------------------------------------------------------------------------------- comments


async def comment(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, body: CommentCreate
) -> tuple[Case, TimelineEntry, datetime]:
    """The comment's checks and its timeline entry (not flushed), with the moment it was
    written; attachments, the event and the deadlines are the workflow's
    (``actions.add_comment``)."""
    case = await get_visible(session, principal, case_id)
    staff = principal.has_role(*STAFF_ROLES)
    if not staff and body.visibility.value == "internal":
        raise _invalid(
            "visibility",
            Text("群众只能发表公开评论", "residents write public comments"),
            Text("群众不能写内部备注", "Residents cannot write internal notes"),
            "internal_not_allowed",
        )
    now = utcnow()
    entry = add_timeline(
        session,
        case,
        principal,
        kind="comment",
        reason=body.body,
        visibility=body.visibility.value,
        attachment_ids=body.attachment_ids,
        at=now,
    )
    return case, entry, now


async def record_notification(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, body: NotificationRecord
) -> TimelineEntry:
    case = await repository.get(session, case_id)
    if case is None:
        raise _not_found()
    entry = add_timeline(
        session,
        case,
        principal,
        kind="notification",
        visibility="internal",
        data=body.model_dump(mode="json"),
    )
    await session.flush()
    return entry


__all__ = [
    "OPEN",
    "Located",
    "Taken",
    "Taking",
    "begin_action",
    "comment",
    "get_visible",
    "make_changes",
    "write_public_reply",
]
