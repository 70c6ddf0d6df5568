"""HTTP of evaluations (评价), reopen requests (差评整改) and return visits (回访)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from case_service.cases import access
from case_service.cases import repository as cases
from case_service.cases.models import Case
from case_service.evaluations import flows, repository, service
from case_service.evaluations.models import Evaluation, ReopenRequest, ReturnVisit
from case_service.evaluations.schemas import (
    EvaluationCreate,
    EvaluationRead,
    ReopenDecision,
    ReopenRequestCreate,
    ReopenRequestRead,
    ReturnVisitOutcome,
    ReturnVisitRead,
)
from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import Forbidden, NotFound, problem_responses

router = APIRouter(prefix="/api/v1", tags=["evaluation"])

CaseId = Annotated[uuid.UUID, Path(description="case id")]
STAFF_AREA_ROLES = (Role.dispatcher, Role.grid_leader, Role.grid_worker, Role.supervisor)


async def _case(session: Any, principal: Principal, case_id: uuid.UUID, *, lock: bool) -> Case:
    case = await cases.get(session, case_id, lock=lock)
    if case is None or not access.can_see(principal, case):
        raise NotFound(Text("没有这个案件", "No such case"), code="case_not_found")
    return case


def _staff(principal: Principal) -> None:
    if not principal.has_role(Role.admin, *STAFF_AREA_ROLES):
        raise Forbidden(Text("仅限有辖区的工作人员", "For staff with an area"), code="staff_only")


def _rater(principal: Principal) -> None:
    if not principal.has_role(Role.resident):
        raise Forbidden(
            Text("只有报告人可以评价案件", "Only the reporter rates a case"),
            code="not_the_reporter",
        )


def _reopen_asker(principal: Principal) -> None:
    if not principal.has_role(Role.resident):
        raise Forbidden(
            Text("只有报告人可以申请重办", "Only the reporter asks to reopen a case"),
            code="not_the_reporter",
        )


def _reopen_decider(principal: Principal) -> None:
    if not principal.has_role(*access.DISPATCH_ROLES):
        raise Forbidden(
            Text(
                "由案件所在层级的派遣员决定是否重办",
                "A dispatcher of the case's level decides on reopening",
            ),
            code="action_not_permitted",
        )


# role checks as route dependencies: they run before the body is validated (403 before 422);
# whose case it is and which level is checked on the case itself
StaffDep = Annotated[Principal, require(_staff)]
RaterDep = Annotated[Principal, require(_rater)]
ReopenAskerDep = Annotated[Principal, require(_reopen_asker)]
ReopenDeciderDep = Annotated[Principal, require(_reopen_decider)]


@router.post(
    "/cases/{case_id}/evaluations",
    status_code=201,
    response_model=EvaluationRead,
    summary="Rate a closed case (评价)",
    description="The reporter rates the current closure: satisfied / basically_satisfied / "
    "dissatisfied, 1-5 for attitude, speed and result, and a comment. One rating per closure "
    "(a case closed again after a reopen can be rated again), within `CASE_RATING_WINDOW_DAYS` "
    "(default 7) of closing; later the closure counts as not rated (409 "
    "`rating_window_passed`). A second rating is 409 `already_rated`. A dissatisfied rating "
    "creates a return-visit task and lets the reporter ask to reopen.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def rate_case(
    principal: RaterDep,
    case_id: CaseId,
    body: EvaluationCreate,
    request: Request,
    session: SessionDep,
) -> Evaluation:
    case = await _case(session, principal, case_id, lock=True)
    return await service.evaluate(
        session,
        principal=principal,
        case=case,
        data=body,
        settings=request.app.state.settings,
    )


@router.get(
    "/cases/{case_id}/evaluations",
    response_model=list[EvaluationRead],
    summary="The ratings of a case, one per closure",
    description="Oldest closure first. `on_behalf` marks a rating recorded by staff on a "
    "return visit. Visible to whoever sees the case.",
    responses=problem_responses(401, 404),
)
async def list_evaluations(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal
) -> list[Evaluation]:
    await _case(session, principal, case_id, lock=False)
    return await repository.of_case(session, case_id)


@router.post(
    "/cases/{case_id}/reopen-requests",
    status_code=201,
    response_model=ReopenRequestRead,
    summary="Ask to reopen a case rated dissatisfied (差评整改申请)",
    description="The reporter, having rated the current closure dissatisfied, asks within the "
    "rating window for the case to be reopened. A dispatcher of the case's level decides. "
    "Goes on the public timeline. One request per closure.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def request_reopen(
    principal: ReopenAskerDep,
    case_id: CaseId,
    body: ReopenRequestCreate,
    request: Request,
    session: SessionDep,
) -> ReopenRequest:
    case = await _case(session, principal, case_id, lock=True)
    return await service.request_reopen(
        session,
        principal=principal,
        case=case,
        reason=body.reason,
        settings=request.app.state.settings,
    )


@router.get(
    "/reopen-requests",
    response_model=Page[ReopenRequestRead],
    summary="Reopen requests in the caller's areas",
    description="Staff with an area (admins: all). Newest first, keyset-paginated; filter by "
    "`status` (pending, reopened, kept_closed).",
    responses=problem_responses(401, 403, 422),
)
async def list_reopen_requests(
    principal: StaffDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        Literal["pending", "reopened", "kept_closed"] | None, Query(examples=["pending"])
    ] = None,
) -> Page[ReopenRequestRead]:
    t = ReopenRequest.__table__.c  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.reopen_requests_statement(principal, status=status),
        order_by=[t.created_at, t.id],
        params=page,
        to_item=ReopenRequestRead.model_validate,
    )


@router.post(
    "/reopen-requests/{request_id}/decision",
    response_model=ReopenRequestRead,
    summary="Decide on a reopen request: reopen, or keep closed with an explanation",
    description="A dispatcher (or grid leader, admin) of the case's handling level. `reopen` "
    "takes the lifecycle's `reopen` action (差评整改: the case goes back to be dispatched); "
    "`keep_closed` leaves it closed and tells the reporter the explanation. Both go on the "
    "public timeline.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def decide_reopen(
    principal: ReopenDeciderDep,
    request_id: Annotated[uuid.UUID, Path(description="reopen request id")],
    body: ReopenDecision,
    request: Request,
    session: SessionDep,
) -> ReopenRequest:
    return await flows.decide_reopen(
        session,
        principal=principal,
        request_id=request_id,
        body=body,
        settings=request.app.state.settings,
    )


@router.get(
    "/return-visits",
    response_model=Page[ReturnVisitRead],
    summary="Return-visit tasks (回访) in the caller's areas",
    description="Created when a hotline or 代办 case closes (a configurable share, "
    "`CASE_RETURN_VISIT_SHARE`) and for every dissatisfied rating. Newest first, "
    "keyset-paginated; filter by `status` (pending, done, unreachable).",
    responses=problem_responses(401, 403, 422),
)
async def list_return_visits(
    principal: StaffDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        Literal["pending", "done", "unreachable"] | None, Query(examples=["pending"])
    ] = None,
) -> Page[ReturnVisitRead]:
    t = ReturnVisit.__table__.c  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.return_visits_statement(principal, status=status),
        order_by=[t.created_at, t.id],
        params=page,
        to_item=ReturnVisitRead.model_validate,
    )


@router.post(
    "/return-visits/{visit_id}/outcome",
    response_model=ReturnVisitRead,
    summary="Record a return visit's outcome",
    description="Staff of the case's area. When the closure is not rated yet, a reached "
    "reporter's rating is recorded as an evaluation on their behalf (`on_behalf: true`); for a "
    "closure already rated (a dissatisfied follow-up) only the note is kept. `reached: false` "
    "marks the task unreachable.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def record_return_visit(
    principal: StaffDep,
    visit_id: Annotated[uuid.UUID, Path(description="return visit id")],
    body: ReturnVisitOutcome,
    request: Request,
    session: SessionDep,
) -> ReturnVisit:
    return await service.complete_return_visit(
        session,
        principal=principal,
        visit_id=visit_id,
        body=body,
        settings=request.app.state.settings,
    )
