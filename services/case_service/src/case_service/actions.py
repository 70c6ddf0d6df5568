"""The lifecycle actions, comments and the public reply as one workflow across the domains.

``cases.service`` knows the case: who may take an action, what it changes of the case and its
assignments, the timeline. What the other domains do about it is here, above them: the
uploads the action links (attachments), the outbox events (the case's, its merged
supporters', a merge's master's, a major incident's), the deadlines and timers (sla), the
rating and the return visit (evaluations).

An action in the fewest statements: the case row locked first (``SELECT … FOR UPDATE``, so
concurrent actions on one case serialise), its assignments, then — with the session not
autoflushing — the merged supporters (only for a case that has any), the case's open
deadlines (locked) and what starting one needs; everything is then written by one flush:
the case in one UPDATE (its ``due_at`` with the rest), the assignments, the timeline entry,
the events, the deadlines and their timers. The ORM writes these tables in the order of
their models' names (``cases.models`` < ``outbox.models`` < ``sla.models`` <
``webhooks.models``; ``CaseDeadline`` < ``SlaTimer``), which is also their foreign keys'
order. The event is built before the deadlines move, so it carries the ``due_at`` from
before the action.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.attachments import service as attachments
from case_service.cases import service
from case_service.cases.lifecycle import Action
from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from case_service.cases.schemas import CaseActionRequest, CommentCreate, PublicReplyWrite
from case_service.cases.service import Located
from case_service.config import Settings
from case_service.evaluations import service as evaluations
from case_service.outbox import service as outbox
from case_service.sla import service as sla
from shared.auth import Principal


async def take_action(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    action: Action,
    body: CaseActionRequest,
    if_match: int | None,
    settings: Settings,
    now: datetime | None = None,
    located: Located | None = None,
) -> tuple[Case, list[CaseAssignment]]:
    """Take ``action``: the case and all its assignments after it, ordered by (assigned_at,
    id) — what the response shows. ``locate`` needs ``located`` (grid_service's answer,
    asked before the transaction opened)."""
    taking = await service.begin_action(
        session,
        principal=principal,
        case_id=case_id,
        action=action,
        body=body,
        if_match=if_match,
        now=now,
    )
    case, now = taking.case, taking.now
    if action is Action.rate:
        # one number for the three scores; the rules of evaluations apply (one per closure,
        # within the rating window) — checked on the case as it is before the action
        await evaluations.from_rating(
            session,
            case,
            principal,
            rating=service.require(body, "rating", action),
            comment=body.reason,
            settings=settings,
            now=now,
        )
    with session.no_autoflush:
        taken = await service.make_changes(
            session, taking, principal=principal, body=body, settings=settings, located=located
        )
        await attachments.claim(
            session, body.attachment_ids, case_id=case.id, actor_id=principal.subject
        )
        extra = taken.extra
        if action is Action.verify:
            extra = {**extra, **evaluations.rating_request(case, settings, now)}
        if taken.master is not None:
            master = taken.master
            await outbox.record_event(
                session,
                master,
                type="case.supporter_added",
                actor_id=principal.subject,
                action="merge",
                previous_status=master.status,
                extra={"merged_case_id": str(case.id), "supporter_count": master.supporter_count},
                flush=False,
            )
        merged = await outbox.merged_into(session, case)
        await outbox.record_event(
            session,
            case,
            type=taken.event_type,
            actor_id=principal.subject,
            action=action.value,
            previous_status=taken.previous,
            reason=body.reason,
            extra=extra,
            merged=merged,
            flush=False,
        )
        await outbox.tell_supporters(
            session,
            case,
            type=taken.event_type,
            actor_id=principal.subject,
            merged=merged,
            flush=False,
        )
        await sla.on_transition(
            session,
            case,
            action=action.value,
            previous=taken.previous,
            now=now,
            priority_changed=taken.priority_changed,
        )
        if taken.newly_major:
            await sla.report_major(session, case)
        if action is Action.verify:
            await evaluations.on_closed(session, case, settings, now)
    await session.flush()
    return case, taken.rows


async def apply_action(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    action: Action,
    body: CaseActionRequest,
    if_match: int | None,
    settings: Settings,
    now: datetime | None = None,
    located: Located | None = None,
) -> Case:
    """:func:`take_action`, for callers that need only the case."""
    case, _ = await take_action(
        session,
        principal=principal,
        case_id=case_id,
        action=action,
        body=body,
        if_match=if_match,
        settings=settings,
        now=now,
        located=located,
    )
    return case


async def add_comment(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, body: CommentCreate
) -> TimelineEntry:
    """A comment or internal note; a public one is an event, and staff answering in public
    give the reporter a first response (its deadline is met)."""
    case, entry, now = await service.comment(
        session, principal=principal, case_id=case_id, body=body
    )
    await attachments.claim(
        session, body.attachment_ids, case_id=case.id, actor_id=principal.subject
    )
    await session.flush()
    if body.visibility.value == "public":
        await outbox.record_event(
            session,
            case,
            type="case.commented",
            actor_id=principal.subject,
            extra={
                "comment": body.body,
                "by_reporter": principal.subject == case.reporter_account_id,
            },
        )
        if principal.subject != case.reporter_account_id:
            with session.no_autoflush:
                await sla.on_transition(
                    session, case, action="public_comment", previous=case.status, now=now
                )
            await session.flush()
    return entry


async def set_public_reply(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    body: PublicReplyWrite,
    if_match: int | None,
) -> Case:
    """Write (or withdraw, ``None``) the public reply, and say so in a
    ``case.public_replied`` event."""
    case = await service.write_public_reply(
        session, principal=principal, case_id=case_id, body=body, if_match=if_match
    )
    await outbox.record_event(
        session,
        case,
        type="case.public_replied",
        actor_id=principal.subject,
        previous_status=case.status,
        extra={"public_reply": body.body},
    )
    return case


__all__ = ["add_comment", "apply_action", "set_public_reply", "take_action"]
