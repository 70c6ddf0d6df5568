"""The dispatcher's decision on a reopen request: it crosses into the case lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from case_service import actions
from case_service.cases import access
from case_service.cases import repository as cases
from case_service.cases.lifecycle import Action
from case_service.cases.schemas import CaseActionRequest
from case_service.config import Settings
from case_service.evaluations import repository
from case_service.evaluations.models import ReopenRequest
from case_service.evaluations.schemas import ReopenDecision, ReopenDecisionKind
from case_service.evaluations.service import timeline
from case_service.outbox.service import record_event
from shared.auth import Principal
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, Forbidden, NotFound


async def decide_reopen(
    session: AsyncSession,
    *,
    principal: Principal,
    request_id: uuid.UUID,
    body: ReopenDecision,
    settings: Settings,
    now: datetime | None = None,
) -> ReopenRequest:
    """``reopen``: the lifecycle's ``reopen`` action (差评整改) with the explanation as its
    reason; ``keep_closed``: the case stays closed and the reporter is told why. Either way a
    ``reopen_decision`` entry goes on the public timeline."""
    now = now or utcnow()
    request = await repository.reopen_request(session, request_id, lock=True)
    case = await cases.get(session, request.case_id) if request is not None else None
    if request is None or case is None or not access.can_see(principal, case):
        raise NotFound(
            Text("没有这个重办申请", "No such reopen request"), code="reopen_request_not_found"
        )
    rows = await cases.assignments(session, case.id)
    if not principal.has_role(*access.DISPATCH_ROLES) or not access.may_take(
        principal, case, Action.reopen, rows
    ):
        raise Forbidden(
            Text(
                "由案件所在层级的派遣员决定是否重办",
                "A dispatcher of the case's level decides on reopening",
            ),
            code="action_not_permitted",
        )
    if request.status != "pending":
        raise Conflict(
            Text(
                f"该申请已处理（{request.status}）",
                f"This request was decided already ({request.status})",
            ),
            code="reopen_request_decided",
        )
    if body.decision is ReopenDecisionKind.reopen:
        case = await actions.apply_action(
            session,
            principal=principal,
            case_id=case.id,
            action=Action.reopen,
            body=CaseActionRequest(reason=body.explanation),
            if_match=None,
            settings=settings,
            now=now,
        )
        request.status = "reopened"
    else:
        request.status = "kept_closed"
    request.decided_by = principal.subject
    request.decided_at = now
    request.explanation = body.explanation
    session.add(request)
    timeline(
        session,
        case,
        principal,
        kind="reopen_decision",
        action=body.decision.value,
        reason=body.explanation,
        data={"reopen_request_id": str(request.id), "decision": body.decision.value},
        at=now,
    )
    await session.flush()
    if body.decision is ReopenDecisionKind.keep_closed:
        await record_event(
            session,
            case,
            type="case.reopen_refused",
            actor_id=principal.subject,
            reason=body.explanation,
            extra={"reopen_request_id": str(request.id)},
        )
    return request


__all__ = ["decide_reopen"]
