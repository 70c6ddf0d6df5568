"""From case events to messages: who hears what (DOMAIN.md "Notifications").

See :mod:`shared.contracts.events` for the table of event types, recipients and templates.
Each message carries a ``dedup_key`` built from the event (or, for major incidents, the case)
and the recipient, so a relay that repeats itself — even after the idempotency record is
purged — adds nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from notify_service.notifications import repository as notifications_repo
from notify_service.notifications import service as notifications
from notify_service.notifications.models import Priority
from notify_service.templates import repository as templates_repo
from shared.contracts.events import CaseEvent, CaseEventPayload
from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed
from shared.validation_texts import reason_for

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Rule:
    recipients: str  # payload attribute
    template_key: str
    priority: Priority = Priority.normal


REPORTER = "reporter_account_id"
ASSIGNEES = "assignee_account_ids"
SUPERVISORS = "supervisor_account_ids"
LEADERS = "leader_account_ids"
DEPARTMENT_HANDLERS = "department_handler_account_ids"

RULES: dict[str, list[Rule]] = {
    "case.accepted": [Rule(REPORTER, "case_accepted")],
    "case.rejected": [Rule(REPORTER, "case_rejected")],
    # the accounts assigned, and the on-duty handlers of every department assigned (the relay
    # fills department_handler_account_ids from grid_service); one message per person
    "case.dispatched": [
        Rule(ASSIGNEES, "case_assigned"),
        Rule(DEPARTMENT_HANDLERS, "case_assigned"),
    ],
    "case.assigned": [Rule(ASSIGNEES, "case_assigned")],
    "case.reassigned": [
        Rule(ASSIGNEES, "case_assigned"),
        Rule(DEPARTMENT_HANDLERS, "case_assigned"),
    ],
    "case.deadline_set": [Rule(REPORTER, "case_deadline")],
    "case.extended": [Rule(REPORTER, "case_deadline")],
    "case.deadline_approaching": [Rule(ASSIGNEES, "case_reminder")],
    "case.urged": [Rule(ASSIGNEES, "case_reminder")],
    # the handler, and the grid leader and supervisors covering the level (the relay fills
    # supervisor_account_ids from grid_service)
    "case.overdue": [Rule(SUPERVISORS, "case_overdue"), Rule(ASSIGNEES, "case_overdue")],
    "case.supervision_lapsed": [Rule(SUPERVISORS, "case_overdue")],
    "case.resolved": [Rule(REPORTER, "case_result")],
    "case.closed": [Rule(REPORTER, "case_rating_request")],
    # the mediators of a dispute, when a return visit on performance falls due
    "mediation.visit_due": [Rule(ASSIGNEES, "mediation_visit_due")],
}
#: events whose ``contacts`` (people without accounts: a dispute's parties) are told, and how
CONTACT_RULES: dict[str, str] = {"mediation.schedule_session": "mediation_session"}
MAJOR_RULE = Rule(LEADERS, "case_major_incident", Priority.critical)


def parse_payload(event: CaseEvent) -> CaseEventPayload:
    try:
        return CaseEventPayload.model_validate(event.payload)
    except ValidationError as exc:
        raise ValidationFailed(
            Text("事件内容格式有误", "The event payload is malformed"),
            code="invalid_event_payload",
            errors=[
                FieldProblem(
                    field="payload." + ".".join(str(p) for p in e["loc"]),
                    reason=reason_for(e),
                    type=e["type"],
                )
                for e in exc.errors()
            ],
        ) from exc


def variables_of(event: CaseEvent, p: CaseEventPayload) -> dict[str, str]:
    deadline = ""
    if p.due_at is not None:
        deadline = p.due_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return {
        "case_number": p.case_number or str(event.case_id)[:8],
        "title": p.title or "",
        "deadline": deadline,
        "result": p.result or "",
        "session_time": p.session_time or "",
        "session_place": p.session_place or "",
    }


def _recipients(p: CaseEventPayload, attribute: str) -> list[uuid.UUID]:
    value: Any = getattr(p, attribute)
    if value is None:
        return []
    return list(dict.fromkeys(value if isinstance(value, list) else [value]))


async def messages_for_event(
    session: AsyncSession, *, event: CaseEvent, now: datetime, created_by: str
) -> list[uuid.UUID]:
    """Store the messages an event means; return their ids (none for a repeat)."""
    payload = parse_payload(event)
    rules = [(r, f"event:{event.id}") for r in RULES.get(event.type, [])]
    if payload.major:
        rules.append((MAJOR_RULE, f"major:{event.case_id}"))
    contact_key = CONTACT_RULES.get(event.type) if payload.contacts else None
    if not rules and contact_key is None:
        return []
    keys = {r.template_key for r, _ in rules} | ({contact_key} if contact_key else set())
    templates = await templates_repo.for_keys(session, keys)
    all_vars = variables_of(event, payload)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()  # a person in two lists of one event hears once
    for rule, scope in rules:
        declared: set[str] = set()
        for (key, _, _), template in templates.items():
            if key == rule.template_key:
                declared |= set(template.variables)
        variables = {k: v for k, v in all_vars.items() if k in declared}
        for account_id in _recipients(payload, rule.recipients):
            dedup_key = f"{scope}:{rule.template_key}:{account_id}"
            if dedup_key in seen:
                continue
            seen.add(dedup_key)
            rows.append(
                notifications.new_row(
                    template_key=rule.template_key,
                    locale="zh-CN",
                    variables=variables,
                    priority=rule.priority,
                    channels=[],
                    now=now,
                    account_id=account_id,
                    source_event_id=event.id,
                    dedup_key=dedup_key,
                    created_by=created_by,
                )
            )
    if contact_key is not None:
        declared = set()
        for (key, _, _), template in templates.items():
            if key == contact_key:
                declared |= set(template.variables)
        variables = {k: v for k, v in all_vars.items() if k in declared}
        for index, contact in enumerate(payload.contacts):
            channels = [
                c
                for c, have in (("wechat_mp", contact.wechat_mp_openid), ("sms", contact.phone))
                if have
            ]
            if not channels:
                continue
            rows.append(
                notifications.new_row(
                    template_key=contact_key,
                    locale="zh-CN",
                    variables=variables,
                    priority=Priority.normal,
                    channels=channels,
                    now=now,
                    phone=contact.phone,
                    wechat_mp_openid=contact.wechat_mp_openid,
                    source_event_id=event.id,
                    dedup_key=f"event:{event.id}:{contact_key}:contact{index}",
                    created_by=created_by,
                )
            )
    return await notifications_repo.insert_many(session, rows)
