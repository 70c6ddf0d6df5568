"""HTTP of cases: intake, lists, reads, lifecycle actions, timeline, comments."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from case_service import actions, intake
from case_service.cases import access, flows, presenter, repository, service, support
from case_service.cases.lifecycle import Action, Status
from case_service.cases.models import Case
from case_service.cases.repository import CaseFilters
from case_service.cases.schemas import (
    CaseActionRequest,
    CaseCreate,
    CaseIntakeResult,
    CaseRead,
    CaseSummary,
    Channel,
    CommentCreate,
    LocateRequest,
    LocationStatus,
    NotificationRecord,
    PublicReplyWrite,
    SimilarNearby,
    SupportResult,
    TimelineRead,
)
from case_service.categories.schemas import Priority
from case_service.privacy import service as privacy
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import FieldProblem, Forbidden, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

CaseId = Annotated[uuid.UUID, Path(description="case id")]
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')
ActionParam = Annotated[Action, Path(description="the action")]


async def may_ever_take(
    case_id: CaseId, action: ActionParam, principal: CurrentPrincipal
) -> Principal:
    """The role part of who may take ``action`` (``access.ACTION_ROLES``), as a dependency that
    runs before the body is validated: a role that can never take the action gets 403 whatever
    it sends. Whose case it is and which level are checked on the case itself."""
    if principal.has_role(*access.ACTION_ROLES[action]):
        return principal
    if action is Action.reopen and principal.has_role(Role.resident):
        url = f"/api/v1/cases/{case_id}/reopen-requests"
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
        Text(f"您的角色不能执行 {action.value}", f"Your role may not {action.value} a case"),
        code="action_not_permitted",
    )


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise ValidationFailed(
            Text(
                'If-Match 须为 ETag 形式的案件版本，例如 "3"',
                'If-Match must be the case version as an ETag, e.g. "3"',
            ),
            code="invalid_if_match",
            errors=[
                FieldProblem(
                    field="header.If-Match", reason=Text("不是案件版本号", "not a case version")
                )
            ],
        )
    return int(match.group(1))


def _etag(case: Case) -> dict[str, str]:
    return {"ETag": f'"{case.version}"'}


@router.post(
    "",
    status_code=201,
    response_model=CaseIntakeResult,
    summary="Report a case (上报) from any channel",
    description="Files a case under a second-level category. The location (lat/lng with its "
    "`crs`, or an address for staff) is placed in a grid through grid_service before anything "
    "is written; the grid's path is stored on the case. Residents report for themselves; staff "
    "may report on a resident's behalf (代办, `reporter`). A grid worker may resolve on the spot "
    "(`self_handled`): the case is stored resolved and awaits verification. Other platforms send "
    "`source` + `external_id`: the same pair again answers 200 with the existing case. Other "
    "clients may send `Idempotency-Key`.\n\n"
    "**What a resident may set.** Unknown fields (`status`, `area_id`, `reporter_account_id` "
    "…) are refused: 422 `validation_failed`, one `errors` entry per field "
    "(`type: extra_forbidden`, reason 不允许的字段 / Extra inputs are not permitted), nothing "
    "written. `priority` and `major` are set by staff only; from a resident or a platform they "
    "are a request kept as `requested_priority` / `requested_major` — the case runs under the "
    "category's default priority, is not a major incident and alerts no one above, until the "
    "dispatcher decides at `accept`.\n\n"
    "**Duplicates.** Staff get `possible_duplicates`: open cases of the same category nearby "
    "and recent, within their scope. A resident gets only their own cases there; other "
    "people's similar reports show as `similar_nearby` — how many and how many residents "
    "support them, with the `support_url` to add their support (附议) — and never which cases "
    "they are.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "resident": {
                            "summary": "a resident asks for urgency (kept as a request)",
                            "value": {
                                "category_code": "0501",
                                "channel": "mini_program",
                                "description": "小区门口燃气味很重",
                                "location": {"lat": 30.2741, "lng": 120.1551, "crs": "gcj02"},
                                "priority": "urgent",
                                "major": True,
                            },
                        },
                        "dispatcher": {
                            "summary": "a dispatcher files a major incident (applied at once)",
                            "value": {
                                "category_code": "0501",
                                "channel": "hotline",
                                "description": "路口燃气管道破裂",
                                "location": {"lat": 30.2741, "lng": 120.1551},
                                "priority": "urgent",
                                "major": True,
                            },
                        },
                    }
                }
            }
        }
    },
    responses={
        200: {"model": CaseRead, "description": "this (source, external_id) already exists"},
        **problem_responses(401, 403, 422, 502, 503, 504),
    },
)
async def report_case(
    request: Request,
    body: CaseCreate,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="makes a retry safe"),
    ] = None,
) -> Any:
    outcome = await intake.intake(
        request=request, principal=principal, data=body, idempotency_key=idempotency_key
    )
    if isinstance(outcome.body, Response):
        return outcome.body
    return JSONResponse(
        CaseRead.model_validate(outcome.body).model_dump(mode="json"),
        status_code=outcome.status_code,
    )


@router.get(
    "",
    response_model=Page[CaseSummary],
    summary="List cases in the caller's scope",
    description="Newest first, keyset-paginated (`cursor`). Filters combine with AND. "
    "`area_path` selects a subtree; `q` is a substring of the description (works for Chinese; "
    "trigram index). With `updated_since` the list becomes a sync feed: oldest change first, "
    "ordered by `updated_at`, for platforms that mirror cases. `reporter_phone` finds the "
    "cases a caller reported before (a hotline operator's 来电历史), by the phone's keyed "
    "lookup hash — the phone itself is stored encrypted; for the roles that may reveal "
    "reporters (`CASE_REPORTER_REVEAL_ROLES`), others get 403 `reveal_not_allowed`. "
    '`location_status=to_locate` is the "to place" list (待定位).',
    responses=problem_responses(401, 403, 422),
)
async def list_cases(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[list[Status] | None, Query(description="any of these statuses")] = None,
    category_code: Annotated[str | None, Query(max_length=32)] = None,
    area_path: Annotated[
        str | None,
        Query(max_length=255, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"),
    ] = None,
    assignee: Annotated[
        str | None, Query(max_length=64, description="account ever assigned")
    ] = None,
    department_id: Annotated[str | None, Query(max_length=64)] = None,
    priority: Annotated[Priority | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="open and past its deadline")] = None,
    created_from: Annotated[datetime | None, Query()] = None,
    created_to: Annotated[datetime | None, Query()] = None,
    updated_from: Annotated[datetime | None, Query()] = None,
    updated_to: Annotated[datetime | None, Query()] = None,
    updated_since: Annotated[
        datetime | None, Query(description="sync feed: changes at or after this time")
    ] = None,
    q: Annotated[str | None, Query(min_length=2, max_length=100)] = None,
    mine: Annotated[bool, Query(description="only cases I reported")] = False,
    reporter_phone: Annotated[
        str | None,
        Query(
            pattern=r"^\+?[0-9 ]{6,20}$",
            description="only cases reported from this phone (spaces ignored)",
            examples=["13812345678"],
        ),
    ] = None,
    location_status: Annotated[
        LocationStatus | None,
        Query(
            description='`to_locate`: the dispatcher\'s "to place" list (待定位), cases filed by '
            "an address that matched no standard address; place them with the `locate` action"
        ),
    ] = None,
    id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=100, description="only these cases (at most 100; e.g. to check ids)"),
    ] = None,
) -> Page[CaseSummary]:
    filters = CaseFilters(
        status=[s.value for s in status] if status else None,
        category_code=category_code,
        area_path=area_path,
        assignee=assignee,
        department_id=department_id,
        priority=priority.value if priority else None,
        channel=channel.value if channel else None,
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
        updated_from=updated_since or updated_from,
        updated_to=updated_to,
        q=q,
        reporter_account_id=principal.subject if mine else None,
        reporter_phone_hash=privacy.phone_hash_for(principal, reporter_phone)
        if reporter_phone
        else None,
        ids=list(id) if id else None,
        location_status=location_status.value if location_status else None,
    )
    stmt = repository.list_statement(filters, scope=access.scope_clause(principal), now=utcnow())
    if updated_since is not None:
        order = [Case.__table__.c.updated_at, Case.__table__.c.id]  # type: ignore[attr-defined]
        descending = False
    else:
        order = [Case.__table__.c.created_at, Case.__table__.c.id]  # type: ignore[attr-defined]
        descending = True
    return await paginate(
        session,
        stmt,
        order_by=order,
        params=page,
        descending=descending,
        to_item=CaseSummary.model_validate,
    )


@router.get(
    "/{case_id}",
    response_model=CaseRead,
    summary="Read one case",
    description="The case as the caller may see it. The reporter's name and phone are "
    "masked (`王**`, `138****5678`, `reporter.masked: true`) for every role — only the reporter "
    "and whoever filed the report for them (代办) see them in clear; an anonymous reporter is "
    "hidden from everyone else. To call the reporter back, a dispatcher, department handler, "
    "grid worker or admin (`CASE_REPORTER_REVEAL_ROLES`) who dispatches or handles the case "
    "asks `?reveal=true&reason=回电核实处理情况`: the answer shows them in clear and the reveal "
    "is recorded (who, when, why) in the append-only reveal audit. Others get 403 "
    "`reveal_not_allowed`; no reason is 422 `reveal_reason_required`. `allowed_actions` lists "
    "what the caller may do now. The `ETag` header is the version to send as `If-Match` with "
    "an action. Out of scope: 404.",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_case(
    case_id: CaseId,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    reveal: Annotated[
        bool,
        Query(description="show the reporter's name and phone in clear (audited; needs reason)"),
    ] = False,
    reason: Annotated[
        str | None,
        Query(
            max_length=500,
            description="why the reporter's details are needed, e.g. 回电核实处理情况",
            examples=["回电核实处理情况"],
        ),
    ] = None,
) -> CaseRead:
    case = await service.get_visible(session, principal, case_id)
    rows = await repository.assignments(session, case.id)
    if reveal:
        why = privacy.check_reveal(principal, case, rows, reason=reason)
        await privacy.record_reveal(session, principal, case, reason=why)
    response.headers.update(_etag(case))
    return presenter.case_read(principal, case, rows, reveal=reveal)


async def may_locate(principal: CurrentPrincipal) -> Principal:
    """The role part of ``locate`` (``access.ACTION_ROLES``), before the body is validated."""
    if principal.has_role(*access.ACTION_ROLES[Action.locate]):
        return principal
    raise Forbidden(
        Text("您的角色不能执行 locate", "Your role may not locate a case"),
        code="action_not_permitted",
    )


@router.post(
    "/{case_id}/actions/locate",
    response_model=CaseRead,
    summary="Place a case in its grid (定位) — the locate action",
    description="For a case filed by an address that matched no standard address (or "
    'several): `location_status: "to_locate"` (待定位), kept at the filer\'s area and listed by '
    "`GET /cases?location_status=to_locate`. A dispatcher (or grid leader, admin) of the "
    "handling level gives a point (`lat`/`lng`, `crs`) or a standard address id "
    "(`address_id`, e.g. a candidate of grid_service's `POST /api/v1/addresses/match`) and a "
    "`reason`. grid_service places it — the grid containing the point, or the address's grid; "
    "the case moves there, becomes `located`, its handling level becomes that grid's community "
    "and its running time limits are recomputed for that level (counted from when each "
    "started). The timeline keeps the move and the reason. Allowed while the case is open "
    "(also to correct a located case); the grid must lie inside the caller's areas (422 "
    "`location_outside_your_areas`). A point outside every grid is 422 `outside_jurisdiction`, "
    "an unknown address 422 `unknown_address`. grid_service is asked with no transaction "
    "open. `If-Match` as for the other actions.",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 502, 503, 504),
)
async def locate_case(
    request: Request,
    case_id: CaseId,
    principal: Annotated[Principal, Depends(may_locate)],
    response: Response,
    body: LocateRequest,
    if_match: Annotated[
        str | None, Header(alias="If-Match", description='the case version, e.g. "3"')
    ] = None,
) -> CaseRead:
    read = await flows.place(
        request=request,
        principal=principal,
        case_id=case_id,
        body=body,
        if_match=parse_if_match(if_match),
    )
    response.headers["ETag"] = f'"{read.version}"'
    return read


@router.post(
    "/{case_id}/actions/{action}",
    response_model=CaseRead,
    summary="Take a lifecycle action on a case",
    description="accept · reject · void · dispatch · reassign · claim · return · resolve · "
    "escalate · verify · rework · suspend · resume · reopen · rate · merge · locate (its own "
    "body: see `POST /cases/{case_id}/actions/locate`). "
    "The body carries the reason, attachments and the action's own fields (assignees for "
    "dispatch, result for resolve, rating for rate, into_case_id for merge); resolve, reject "
    "and void also take `public_reply`, the public reply (公开答复) the Open311 feed shows as "
    "`status_notes` — the internal result and reasons are never shown there. With accept the "
    "dispatcher decides what the reporter asked for (`requested_priority`, `requested_major`): "
    "`priority` (default: keep it; a change restarts the dispatch, first-response and "
    "resolution limits under it) and `major` (default: keep it; `true` reports the case "
    "upward at once as 重大事件); the decision is kept on the accept entry of the timeline "
    "(`data.priority`, `data.major`). Sent with any other action they are 422 "
    "`only_at_accept`; unknown fields are 422 `validation_failed`. An action the "
    "case's status does not allow is a 409 `illegal_transition` listing `allowed_actions`; "
    "a stale `If-Match` is a 412 `version_mismatch`.",
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def take_action(
    request: Request,
    principal: Annotated[Principal, Depends(may_ever_take)],
    case_id: CaseId,
    action: ActionParam,
    session: SessionDep,
    response: Response,
    body: Annotated[
        CaseActionRequest,
        Body(
            openapi_examples={
                "dispatch": {
                    "summary": "dispatch to a grid worker",
                    "value": {"assignees": [{"account_id": "worker-1", "role": "lead"}]},
                },
                "joint": {
                    "summary": "joint case: a lead department and a co-handler",
                    "value": {
                        "assignees": [
                            {"department_id": "dept-urban", "role": "lead"},
                            {"department_id": "dept-housing", "role": "co"},
                        ]
                    },
                },
                "resolve": {
                    "summary": "resolve with before/after photos",
                    "value": {"result": "井盖已更换", "attachment_ids": []},
                },
                "return": {
                    "summary": "return a misrouted case",
                    "value": {"reason": "非本部门职责"},
                },
                "rate": {"summary": "rate", "value": {"rating": 5, "reason": "很满意"}},
                "accept_urgent": {
                    "summary": "accept, granting the reporter's request for urgency",
                    "value": {"priority": "urgent", "major": True, "reason": "燃气泄漏"},
                },
                "resolve_with_public_reply": {
                    "summary": "resolve with a public reply for the Open311 feed",
                    "value": {
                        "result": "联系路政养护二班当日更换，费用由产权单位承担",
                        "public_reply": "井盖已于当日更换，感谢您的反映",
                    },
                },
            }
        ),
    ] = CaseActionRequest(),
    if_match: Annotated[
        str | None, Header(alias="If-Match", description='the case version, e.g. "3"')
    ] = None,
) -> CaseRead:
    case, rows = await actions.take_action(
        session,
        principal=principal,
        case_id=case_id,
        action=action,
        body=body,
        if_match=parse_if_match(if_match),
        settings=request.app.state.settings,
    )
    response.headers.update(_etag(case))
    return presenter.case_read(principal, case, rows)


@router.put(
    "/{case_id}/public-reply",
    response_model=CaseRead,
    summary="Write the public reply (公开答复) of a case",
    description="The public reply is what the public Open311 feed shows as `status_notes` — "
    "written apart from the internal `result` and reasons, which the feed never shows (see "
    'docs/security.md, "Open311 disclosure policy"). Staff who may see the case write it '
    "at any time (resolve, reject and void also take it as `public_reply`); `null` withdraws "
    "it. Each change is kept on the timeline (`kind: public_reply`) and sent as a "
    "`case.public_replied` event. Residents and platforms: "
    "403 `missing_role` (before the body is read); out of scope: 404; a stale `If-Match`: 412.",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def put_public_reply(
    case_id: CaseId,
    body: PublicReplyWrite,
    session: SessionDep,
    principal: Annotated[Principal, require_roles(*service.STAFF_ROLES)],
    response: Response,
    if_match: Annotated[
        str | None, Header(alias="If-Match", description='the case version, e.g. "3"')
    ] = None,
) -> CaseRead:
    case = await actions.set_public_reply(
        session,
        principal=principal,
        case_id=case_id,
        body=body,
        if_match=parse_if_match(if_match),
    )
    rows = await repository.assignments(session, case.id)
    response.headers.update(_etag(case))
    return presenter.case_read(principal, case, rows)


@router.get(
    "/{case_id}/timeline",
    response_model=list[TimelineRead],
    summary="The case's timeline (append-only)",
    description="Every transition, comment, reassignment and notification, oldest first. "
    "Residents see the public entries of their own cases only.",
    responses=problem_responses(401, 404),
)
async def get_timeline(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal
) -> list[TimelineRead]:
    case = await service.get_visible(session, principal, case_id)
    entries = await repository.timeline(
        session, case.id, public_only=presenter.resident_only(principal)
    )
    hidden = presenter.hidden_actors(
        principal, case, await repository.assignments(session, case.id)
    )
    return [presenter.timeline_read(principal, e, hidden=hidden) for e in entries]


@router.post(
    "/{case_id}/comments",
    status_code=201,
    response_model=TimelineRead,
    summary="Comment on a case (public or internal)",
    description="Staff write internal notes or public replies; residents write public "
    "comments on their own cases. Public comments are relayed as `case.commented` events.",
    responses=problem_responses(401, 404, 422),
)
async def add_comment(
    case_id: CaseId, body: CommentCreate, session: SessionDep, principal: CurrentPrincipal
) -> TimelineRead:
    entry = await actions.add_comment(session, principal=principal, case_id=case_id, body=body)
    return presenter.timeline_read(principal, entry)


@router.get(
    "/{case_id}/duplicates",
    response_model=list[CaseSummary],
    summary="Open cases that may be the same as this one",
    description="Same category, within the category's radius (default 50 m) and time window, "
    "as far as the caller may see them: staff their scope, a resident their own reports only "
    "(other people's similar reports: `GET /cases/{id}/similar`, counts only). "
    "Merge with `POST /cases/{id}/actions/merge`.",
    responses=problem_responses(401, 404),
)
async def list_duplicates(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal
) -> list[CaseSummary]:
    from datetime import timedelta

    from case_service.categories import repository as categories

    case = await service.get_visible(session, principal, case_id)
    if case.lat is None or case.lng is None:
        return []
    category = await categories.get_version(session, case.category_id)
    radius = category.duplicate_radius_m if category else 50
    window = category.duplicate_window_hours if category else 72
    rows = await repository.find_duplicates(
        session,
        category_code=case.category_code,
        lat=case.lat,
        lng=case.lng,
        radius_m=radius,
        since=case.created_at - timedelta(hours=window),
        exclude_id=case.id,
    )
    return [CaseSummary.model_validate(r) for r in rows if access.can_see(principal, r)]


PlatformDep = Annotated[Principal, require_roles(Role.platform, Role.admin)]


@router.post(
    "/{case_id}/notifications",
    status_code=201,
    response_model=TimelineRead,
    summary="Record a notification sent about a case (notify_service)",
    description="notify_service calls this after it delivered a message, so the timeline "
    "shows who was told what. Platform clients and admins only.",
    responses=problem_responses(401, 403, 404, 422),
)
async def record_notification(
    case_id: CaseId, body: NotificationRecord, session: SessionDep, principal: PlatformDep
) -> TimelineRead:
    entry = await service.record_notification(
        session, principal=principal, case_id=case_id, body=body
    )
    return TimelineRead.model_validate(entry)


@router.get(
    "/{case_id}/similar",
    response_model=SimilarNearby | None,
    summary="Similar reports near my case, counted (residents)",
    description="For the reporter of the case: whether other people reported the same problem "
    "nearby (open cases of the same category within the category's duplicate radius and "
    "window; not anonymous ones, not the caller's own), how many, and how many residents "
    "support the earliest of them — no id, number, title, area or reporter of theirs. `null` "
    "when there is none. Anyone but the case's reporter: 404.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "count": 2,
                        "support_count": 3,
                        "supported": False,
                        "support_url": "/api/v1/cases/5b0c9f7e-…/similar/support",
                    }
                }
            }
        },
        **problem_responses(401, 404),
    },
)
async def get_similar(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal
) -> SimilarNearby | None:
    own = await support.own_case(session, principal, case_id)
    return await support.similar_nearby(session, principal, own)


@router.post(
    "/{case_id}/similar/support",
    response_model=SupportResult,
    summary="Support (附议) the similar report near my case (residents)",
    description="A resident adds their support (附议/+1) to the earliest similar report near "
    "their own case `case_id` (the one `similar_nearby` counts): the caller names only their "
    "own case, never the other, so no case can be supported that the caller was not shown. "
    "One support per account and case: the first answers 201 `added: true`, any repeat 200 "
    "`added: false` with the same count. Staff see the count as `support_count` on the case. "
    "Not the caller's own case: 404 `case_not_found`; nothing similar: 404 `no_similar_case`; "
    "staff and platforms: 403 `support_residents_only`.",
    status_code=201,
    responses={
        200: {"model": SupportResult, "description": "supported already; nothing changed"},
        201: {
            "content": {
                "application/json": {
                    "example": {"added": True, "support_count": 4, "supported": True}
                }
            }
        },
        **problem_responses(401, 403, 404),
    },
)
async def add_support(case_id: CaseId, session: SessionDep, principal: CurrentPrincipal) -> Any:
    result = await support.add_support(session, principal=principal, case_id=case_id)
    if not result.added:
        return JSONResponse(result.model_dump(mode="json"), status_code=200)
    return result
