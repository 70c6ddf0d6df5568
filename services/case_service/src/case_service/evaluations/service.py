"""Business rules of evaluation (评价), reopen requests (差评整改) and return visits (回访).
Flush, never commit.

* One evaluation per closure of a case (a case closed again after a reopen can be rated
  again), by its reporter, within ``rating_window_days`` of closing; after that the closure
  counts as not rated. The lifecycle's ``rate`` action records an evaluation too (see
  :func:`from_rating`), so both paths share these rules.
* A dissatisfied reporter may ask, within the same window, to reopen; a dispatcher decides
  (``flows.decide_reopen``). Request and decision both go on the timeline.
* Reporters without the app (hotline, 代办) get a return-visit task for a configurable share of
  closures, and every dissatisfied rating gets one; a return visit records the outcome as an
  evaluation on the reporter's behalf (``on_behalf``).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases.models import Case, TimelineEntry
from case_service.config import Settings
from case_service.evaluations import repository
from case_service.evaluations.models import Evaluation, ReopenRequest, ReturnVisit
from case_service.evaluations.schemas import (
    EvaluationCreate,
    ReturnVisitOutcome,
    Satisfaction,
)
from case_service.outbox.service import record_event
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed

NO_APP_CHANNELS = frozenset({"hotline"})


def timeline(
    session: AsyncSession,
    case: Case,
    principal: Principal | None,
    *,
    kind: str,
    at: datetime,
    action: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    visibility: str = "public",
) -> None:
    """Bump the case's version and append to its timeline (the case changed for its readers)."""
    case.version += 1
    case.updated_at = at
    session.add(case)
    session.add(
        TimelineEntry(
            case_id=case.id,
            kind=kind,
            action=action,
            from_status=case.status,
            to_status=case.status,
            actor_id=principal.subject if principal else None,
            actor_roles=sorted(principal.roles) if principal else [],
            reason=reason,
            visibility=visibility,
            data=data or {},
            case_version=case.version,
            created_at=at,
        )
    )


def rating_deadline(case: Case, settings: Settings) -> datetime | None:
    if case.closed_at is None:
        return None
    return case.closed_at + timedelta(days=settings.rating_window_days)


def rating_request(case: Case, settings: Settings, now: datetime) -> dict[str, Any]:
    """Payload keys of ``case.closed`` for the rating request (mini-program page + deadline)."""
    return {
        "rating_page": f"{settings.rating_page}?case_id={case.id}",
        "rating_due_at": (now + timedelta(days=settings.rating_window_days)).isoformat(),
    }


def _is_reporter(principal: Principal, case: Case) -> bool:
    return (
        principal.has_role(Role.resident)
        and case.reporter_account_id is not None
        and case.reporter_account_id == principal.subject
    )


def _closed_at(case: Case) -> datetime:
    if case.status != "closed" or case.closed_at is None:
        raise Conflict(
            Text(
                f"只有已结案的案件才能评价；此案件为 {case.status}",
                f"Only a closed case is rated; this one is {case.status}",
            ),
            code="case_not_closed",
            extra={"case_status": case.status},
        )
    return case.closed_at


async def _check_rateable(
    session: AsyncSession, case: Case, settings: Settings, now: datetime, *, window: bool
) -> datetime:
    closed_at = _closed_at(case)
    if window and now > closed_at + timedelta(days=settings.rating_window_days):
        raise Conflict(
            Text(
                f"结案后 {settings.rating_window_days} 天内才能评价；本次结案视为未评价",
                f"A case is rated within {settings.rating_window_days} days of closing; "
                "this closure counts as not rated",
            ),
            code="rating_window_passed",
            extra={"rating_due_at": (rating_deadline(case, settings) or now).isoformat()},
        )
    if await repository.for_closure(session, case.id, closed_at) is not None:
        raise Conflict(
            Text("本次结案已评价", "This closure of the case is already rated"),
            code="already_rated",
        )
    return closed_at


def _mean_rating(e: Evaluation) -> int:
    return round((e.attitude_score + e.speed_score + e.result_score) / 3)


async def _store(
    session: AsyncSession,
    case: Case,
    *,
    closed_at: datetime,
    data: EvaluationCreate,
    recorded_by: str,
    on_behalf: bool,
    now: datetime,
    return_visit_id: uuid.UUID | None = None,
) -> Evaluation:
    evaluation = Evaluation(
        case_id=case.id,
        closed_at=closed_at,
        satisfaction=data.satisfaction.value,
        attitude_score=data.attitude_score,
        speed_score=data.speed_score,
        result_score=data.result_score,
        comment=data.comment,
        reporter_account_id=case.reporter_account_id,
        on_behalf=on_behalf,
        recorded_by=recorded_by,
        return_visit_id=return_visit_id,
        created_at=now,
    )
    session.add(evaluation)
    case.rating = _mean_rating(evaluation)
    case.rating_comment = data.comment
    await session.flush()
    return evaluation


async def _after_rating(
    session: AsyncSession,
    case: Case,
    evaluation: Evaluation,
    settings: Settings,
    now: datetime,
) -> None:
    """Every dissatisfied rating by the reporter gets a return visit (回访) of its own."""
    if evaluation.satisfaction == Satisfaction.dissatisfied.value and not evaluation.on_behalf:
        await ensure_return_visit(session, case, reason="dissatisfied", now=now)


def satisfaction_of(rating: int) -> Satisfaction:
    """The lifecycle ``rate`` action's 1-5 as a satisfaction: 4-5 satisfied, 3 basically,
    1-2 dissatisfied (the same line the reporter's ``reopen`` action draws)."""
    if rating >= 4:
        return Satisfaction.satisfied
    if rating == 3:
        return Satisfaction.basically_satisfied
    return Satisfaction.dissatisfied


async def from_rating(
    session: AsyncSession,
    case: Case,
    principal: Principal,
    *,
    rating: int,
    comment: str | None,
    settings: Settings,
    now: datetime,
) -> Evaluation:
    """The lifecycle ``rate`` action: a one-number evaluation (all three scores = ``rating``).
    The action writes its own timeline entry and event."""
    closed_at = await _check_rateable(session, case, settings, now, window=True)
    data = EvaluationCreate(
        satisfaction=satisfaction_of(rating),
        attitude_score=rating,
        speed_score=rating,
        result_score=rating,
        comment=comment[:1000] if comment else None,
    )
    evaluation = await _store(
        session,
        case,
        closed_at=closed_at,
        data=data,
        recorded_by=principal.subject,
        on_behalf=False,
        now=now,
    )
    await _after_rating(session, case, evaluation, settings, now)
    return evaluation


async def evaluate(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    data: EvaluationCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Evaluation:
    """``POST /cases/{id}/evaluations``: the reporter rates the current closure."""
    now = now or utcnow()
    if not _is_reporter(principal, case):
        raise Forbidden(
            Text("只有报告人可以评价案件", "Only the reporter rates a case"),
            code="not_the_reporter",
        )
    closed_at = await _check_rateable(session, case, settings, now, window=True)
    evaluation = await _store(
        session,
        case,
        closed_at=closed_at,
        data=data,
        recorded_by=principal.subject,
        on_behalf=False,
        now=now,
    )
    await _rated(session, case, principal, evaluation, now)
    await _after_rating(session, case, evaluation, settings, now)
    return evaluation


async def _rated(
    session: AsyncSession,
    case: Case,
    principal: Principal,
    evaluation: Evaluation,
    now: datetime,
) -> None:
    details = {
        "satisfaction": evaluation.satisfaction,
        "attitude_score": evaluation.attitude_score,
        "speed_score": evaluation.speed_score,
        "result_score": evaluation.result_score,
        "on_behalf": evaluation.on_behalf,
        "evaluation_id": str(evaluation.id),
    }
    timeline(
        session,
        case,
        principal,
        kind="rating",
        action="rate",
        reason=evaluation.comment,
        data=details,
        at=now,
    )
    await session.flush()
    await record_event(
        session,
        case,
        type="case.rated",
        actor_id=principal.subject,
        action="rate",
        previous_status=case.status,
        extra={"rating": case.rating, **details},
    )


# ---------------------------------------------------------------------------- reopen requests


async def request_reopen(
    session: AsyncSession,
    *,
    principal: Principal,
    case: Case,
    reason: str,
    settings: Settings,
    now: datetime | None = None,
) -> ReopenRequest:
    now = now or utcnow()
    if not _is_reporter(principal, case):
        raise Forbidden(
            Text("只有报告人可以申请重办", "Only the reporter asks to reopen a case"),
            code="not_the_reporter",
        )
    closed_at = _closed_at(case)
    if now > closed_at + timedelta(days=settings.rating_window_days):
        raise Conflict(
            Text(
                f"结案后 {settings.rating_window_days} 天内才能申请重办",
                f"Reopening is asked within {settings.rating_window_days} days of closing",
            ),
            code="reopen_request_window_passed",
        )
    evaluation = await repository.for_closure(session, case.id, closed_at)
    if evaluation is None or evaluation.satisfaction != Satisfaction.dissatisfied.value:
        raise Conflict(
            Text(
                "报告人须先对本次结案评价为不满意，才能申请重办",
                "A reporter asks to reopen after rating this closure dissatisfied",
            ),
            code="not_dissatisfied",
        )
    if await repository.reopen_request_for(session, evaluation.id) is not None:
        raise Conflict(
            Text("本次结案已申请过重办", "Reopening this closure was asked already"),
            code="reopen_already_requested",
        )
    request = ReopenRequest(
        case_id=case.id,
        evaluation_id=evaluation.id,
        area_path=case.area_path,
        reason=reason,
        requested_by=principal.subject,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    timeline(
        session,
        case,
        principal,
        kind="reopen_request",
        action="request_reopen",
        reason=reason,
        data={"reopen_request_id": str(request.id)},
        at=now,
    )
    await session.flush()
    await record_event(
        session,
        case,
        type="case.reopen_requested",
        actor_id=principal.subject,
        reason=reason,
        extra={"reopen_request_id": str(request.id)},
    )
    return request


# ------------------------------------------------------------------------------- return visits


def _sampled(case: Case, closed_at: datetime, share: float) -> bool:
    """A stable draw per closure: the same closure is always in or out of the sample."""
    if share >= 1:
        return True
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{case.id}:{closed_at.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def has_no_app(case: Case) -> bool:
    """Reporters who came by the hotline or through staff (代办) cannot rate in the app."""
    return case.channel in NO_APP_CHANNELS or case.on_behalf


async def ensure_return_visit(
    session: AsyncSession, case: Case, *, reason: str, now: datetime
) -> ReturnVisit:
    closed_at = _closed_at(case)
    visit = await repository.return_visit_for(session, case.id, closed_at)
    if visit is not None:
        if reason == "dissatisfied" and visit.status == "pending":
            visit.reason = reason
            session.add(visit)
        return visit
    visit = ReturnVisit(
        case_id=case.id,
        closed_at=closed_at,
        area_path=case.area_path,
        reason=reason,
        created_at=now,
    )
    session.add(visit)
    await session.flush()
    return visit


async def on_closed(session: AsyncSession, case: Case, settings: Settings, now: datetime) -> None:
    """Called by the lifecycle when a case closes (``verify``), in its transaction."""
    if case.closed_at is None or case.anonymous or not has_no_app(case):
        return
    if _sampled(case, case.closed_at, settings.return_visit_share):
        await ensure_return_visit(session, case, reason="sampled", now=now)


def _may_visit(principal: Principal, case_area: str) -> bool:
    if principal.has_role(Role.admin):
        return True
    return principal.has_role(
        Role.dispatcher, Role.grid_leader, Role.grid_worker, Role.supervisor
    ) and principal.covers_area(case_area)


def _outcome_evaluation(body: ReturnVisitOutcome) -> EvaluationCreate | None:
    fields = ("satisfaction", "attitude_score", "speed_score", "result_score")
    given = [f for f in fields if getattr(body, f) is not None]
    if not body.reached:
        if given or body.comment is not None:
            raise ValidationFailed(
                Text("未联系上的报告人没有给出评价", "An unreached reporter gave no rating"),
                code="rating_without_contact",
                errors=[
                    FieldProblem(
                        field=given[0] if given else "comment",
                        reason=Text("reached 为 false", "reached is false"),
                    )
                ],
            )
        return None
    if not given and body.comment is None:
        return None
    missing = [f for f in fields if getattr(body, f) is None]
    if missing:
        raise ValidationFailed(
            Text("评价须包含满意度和三项评分", "A rating needs satisfaction and all three scores"),
            code="incomplete_rating",
            errors=[
                FieldProblem(field=f, reason=Text("有评价时必填", "required with a rating"))
                for f in missing
            ],
        )
    return EvaluationCreate(
        satisfaction=body.satisfaction,
        attitude_score=body.attitude_score,
        speed_score=body.speed_score,
        result_score=body.result_score,
        comment=body.comment,
    )


async def complete_return_visit(
    session: AsyncSession,
    *,
    principal: Principal,
    visit_id: uuid.UUID,
    body: ReturnVisitOutcome,
    settings: Settings,
    now: datetime | None = None,
) -> ReturnVisit:
    from case_service.cases import repository as cases

    now = now or utcnow()
    visit = await repository.return_visit(session, visit_id, lock=True)
    if visit is None or not _may_visit(principal, visit.area_path):
        raise NotFound(Text("没有这个回访", "No such return visit"), code="return_visit_not_found")
    if visit.status != "pending":
        raise Conflict(
            Text(f"该回访已是 {visit.status}", f"This return visit is {visit.status} already"),
            code="return_visit_completed",
        )
    case = await cases.get(session, visit.case_id, lock=True)
    assert case is not None  # foreign key
    rated = await repository.for_closure(session, case.id, visit.closed_at)
    wanted = _outcome_evaluation(body)
    if body.reached and rated is None and wanted is None:
        raise ValidationFailed(
            Text(
                "本次结案尚未评价：请记录报告人的评价",
                "This closure is not rated yet: record the reporter's rating",
            ),
            code="rating_required",
            errors=[
                FieldProblem(
                    field="satisfaction",
                    reason=Text("必填：本次结案尚未评价", "required: the closure is not rated"),
                )
            ],
        )
    if wanted is not None and rated is not None:
        raise Conflict(
            Text(
                "本次结案已评价：只能记录备注", "This closure is rated already; record only a note"
            ),
            code="already_rated",
        )
    visit.status = "done" if body.reached else "unreachable"
    visit.note = body.note
    visit.completed_by = principal.subject
    visit.completed_at = now
    if wanted is not None:
        if case.closed_at != visit.closed_at:
            raise Conflict(
                Text(
                    "案件此后已重新打开，本次结案不能再评价",
                    "The case was reopened since; this closure can no longer be rated",
                ),
                code="closure_superseded",
            )
        evaluation = await _store(
            session,
            case,
            closed_at=visit.closed_at,
            data=wanted,
            recorded_by=principal.subject,
            on_behalf=True,
            now=now,
            return_visit_id=visit.id,
        )
        visit.evaluation_id = evaluation.id
        await _rated(session, case, principal, evaluation, now)
    else:
        timeline(
            session,
            case,
            principal,
            kind="return_visit",
            action="return_visit",
            reason=body.note,
            data={"return_visit_id": str(visit.id), "reached": body.reached},
            visibility="internal",
            at=now,
        )
    session.add(visit)
    await session.flush()
    return visit
