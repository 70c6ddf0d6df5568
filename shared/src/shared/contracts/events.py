"""Case domain events: written to case_service's outbox, relayed to notify_service.

The relay: ``POST {notify}/api/v1/events`` with the :class:`CaseEvent` as JSON body,
``Idempotency-Key: <CaseEvent.id>`` (the outbox row id) and a bearer token of a platform client
holding scope ``events:write`` (grid_service's ``case_service`` platform client must be
granted it). Retry until a 2xx; a repeat of the same event creates nothing
new (the first answer is replayed). 202 means stored: notify_service delivers it later. A 422
is a malformed event and will not succeed on retry.

Who hears what (notify_service maps ``type`` → recipients → template):

=============================================  ==============================  ==============
``type``                                       recipients (payload key)        template key
=============================================  ==============================  ==============
``case.accepted``                              ``reporter_account_id``         case_accepted
``case.rejected``                              ``reporter_account_id``         case_rejected
``case.dispatched`` ``case.assigned``          ``assignee_account_ids``        case_assigned
``case.reassigned``                            and ``department_handler_
                                               account_ids`` (each person once)
``case.deadline_set`` ``case.extended``        ``reporter_account_id``         case_deadline
``case.deadline_approaching`` ``case.urged``   ``assignee_account_ids``        case_reminder
``case.overdue``                               ``supervisor_account_ids``      case_overdue
                                               and ``assignee_account_ids``
``case.supervision_lapsed``                    ``supervisor_account_ids``      case_overdue
``case.resolved``                              ``reporter_account_id``         case_result
``case.closed``                                ``reporter_account_id``         case_rating_request
any type with ``payload.major`` true           ``leader_account_ids``          case_major_incident
``mediation.schedule_session``                 ``contacts`` (the parties'      mediation_session
                                               phones: SMS)
``mediation.visit_due``                        ``assignee_account_ids`` (the   mediation_visit_due
                                               mediators)
=============================================  ==============================  ==============

case_service's outbox relay fills ``supervisor_account_ids`` (supervisors and grid leaders
covering the handling level), ``leader_account_ids`` (dispatchers and supervisors of every
level above) and, for a dispatch or reassignment to departments, ``department_handler_account_ids``
(the on-duty handlers of the lead and co-handling departments) from grid_service before posting,
outside any transaction.

Every message to a person with an account is also an item of their in-app inbox
(``/api/v1/inbox``), whichever channel (SMS, WeChat, in-app) carried it.

Major incidents go to the leaders of the levels above (critical priority: no quiet hours, no
caps), once per case and leader, whichever event first carries ``major: true``. Other types are
accepted and produce no message. Missing recipients simply mean nobody to tell.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CaseEvent(BaseModel):
    """One state change of a case, as relayed (``Idempotency-Key`` = ``id``)."""

    id: uuid.UUID = Field(description="outbox row id; unique per event")
    type: str = Field(examples=["case.accepted"])
    case_id: uuid.UUID
    case_version: int
    occurred_at: datetime
    area_path: str | None = None
    payload: dict[str, Any] = Field(
        default_factory=dict, description="see CaseEventPayload for the keys notify_service reads"
    )


class EventContact(BaseModel):
    """A person without an account, reached at an explicit contact point (a dispute's party)."""

    phone: str | None = Field(None, max_length=20, examples=["13800000001"])
    wechat_mp_openid: str | None = Field(None, max_length=64)


class CaseEventPayload(BaseModel):
    """The ``CaseEvent.payload`` keys notify_service reads (all optional; others ignored).

    Account ids are grid_service account ids (the recipients are resolved there).
    """

    model_config = ConfigDict(extra="allow")

    case_number: str | None = Field(None, max_length=64, examples=["XH20261123-0042"])
    title: str | None = Field(None, max_length=200, examples=["小区门口路灯不亮"])
    reporter_account_id: uuid.UUID | None = Field(
        None, description="the resident (or staff member) who reported; null for anonymous"
    )
    assignee_account_ids: list[uuid.UUID] = Field(
        default_factory=list, description="handlers: lead and co-handlers (主办/协办)"
    )
    supervisor_account_ids: list[uuid.UUID] = Field(
        default_factory=list, description="who is told when the case is overdue (督办)"
    )
    department_handler_account_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="on-duty handlers of the case's departments (lead and co-handling), told "
        "of a dispatch or reassignment",
    )
    leader_account_ids: list[uuid.UUID] = Field(
        default_factory=list, description="leaders of the levels above, told of major incidents"
    )
    due_at: datetime | None = Field(None, description="current deadline (timezone-aware)")
    result: str | None = Field(
        None, max_length=500, description="handling result told to the reporter"
    )
    major: bool = Field(False, description="a major incident (重大事件): leaders hear at once")
    contacts: list[EventContact] = Field(
        default_factory=list,
        description="people without accounts told of this event (a mediation session's "
        "parties); filled in by the relay from sealed phones, never stored in clear",
    )
    session_time: str | None = Field(
        None, max_length=32, description="mediation.schedule_session: local time of the session"
    )
    session_place: str | None = Field(
        None, max_length=200, description="mediation.schedule_session: where it takes place"
    )


#: The payload keys notify_service reads (see :class:`CaseEventPayload`).
CASE_EVENT_PAYLOAD_KEYS: tuple[str, ...] = tuple(CaseEventPayload.model_fields)


#: Every ``type`` case_service writes to its outbox (one event per change, in the transaction
#: of the change). ``case.part_finished``: one handler of a joint case finished their part;
#: ``case.supporter_added``: a duplicate was merged into this case; ``case.commented``: a
#: public comment; ``case.public_replied``: the public reply (公开答复, the Open311 feed's
#: ``status_notes``) was written or withdrawn outside an action; ``case.located``: a case
#: placed in its grid (the ``locate`` action). The outcome types (accepted, rejected,
#: resolved, closed) are also written once for every case merged into the one that changed,
#: on the merged case's own id, so that every reporter hears of the outcome
#: (``master_case_id``/``master_case_number`` say which).
CASE_EVENT_TYPES: tuple[str, ...] = (
    "case.reported",
    "case.accepted",
    "case.rejected",
    "case.voided",
    "case.dispatched",
    "case.reassigned",
    "case.claimed",
    "case.returned",
    "case.part_finished",
    "case.resolved",
    "case.escalated",
    "case.closed",
    "case.rework",
    "case.suspended",
    "case.resumed",
    "case.reopened",
    "case.rated",
    "case.merged",
    "case.supporter_added",
    "case.commented",
    "case.public_replied",
    "case.located",
    # time limits and supervision (case_service.sla)
    "case.deadline_approaching",
    "case.overdue",
    "case.extension_requested",
    "case.extended",
    "case.extension_refused",
    "case.urged",
    "case.supervision_answered",
    "case.supervision_lapsed",
    "case.major_incident",
    # evaluation (case_service.evaluations)
    "case.reopen_requested",
    "case.reopen_refused",
    # dispute mediation (case_service.mediation): one event per step of the procedure
    "mediation.registered",
    "mediation.updated",
    "mediation.accept",
    "mediation.refuse",
    "mediation.assign",
    "mediation.schedule_session",
    "mediation.record_session",
    "mediation.extend",
    "mediation.agree",
    "mediation.fail",
    "mediation.refer_up",
    "mediation.refer_department",
    "mediation.advise_court",
    "mediation.apply_confirmation",
    "mediation.confirm",
    "mediation.refuse_confirmation",
    "mediation.visit_performed",
    "mediation.visit_not_performed",
    "mediation.urge",
    "mediation.visit_due",
)

#: Payload keys case_service writes besides :class:`CaseEventPayload`'s (readers may ignore
#: them). Account and department ids are strings as the tokens carry them.
CASE_SERVICE_PAYLOAD_KEYS: dict[str, str] = {
    "category_code": "stable category code (事项编码), e.g. 0802",
    "category_name": "category name at filing time, e.g. 井盖缺失破损",
    "kind": "consultation, help, complaint, report or suggestion",
    "status": "the case's status after the change",
    "previous_status": "the status before it (null for case.reported)",
    "action": "the lifecycle action taken (accept, dispatch, resolve …)",
    "priority": "low, normal, high or urgent",
    "area_path": "dot path of area codes where the case is (same as CaseEvent.area_path)",
    "handling_area_path": "the level handling it now (moves up on escalation)",
    "handling_level": "that level's name: community, street, district …",
    "reporter_channel": "where the case came in: mini_program, app, web, hotline, patrol, "
    "video, platform",
    "department_ids": "every department ever assigned (lead first)",
    "department_id": "the first department assigned, or null",
    "supporter_account_ids": "reporters of the duplicates merged into this case",
    "reason": "the reason given with the action (reject, return, escalate …), or null",
    "actor_id": "the account that acted",
    "rating": "case.rated: 1-5",
    "escalated_to": "case.escalated: the area path of the level above",
    "merged_into_id": "case.merged: the master case",
    "merged_case_id": "case.supporter_added: the duplicate merged in",
    "supporter_count": "case.supporter_added: reports merged into the master so far",
    "master_case_id": "outcome told to a merged duplicate's reporter: the master case",
    "master_case_number": "… and its number",
    "master_status": "… and its status",
    "self_handled": "case.resolved: resolved on the spot by the reporting grid worker",
    "comment": "case.commented: the public comment",
    "by_reporter": "case.commented: true when the reporter wrote it",
    "public_reply": "case.public_replied, and resolved/rejected/voided when one was written "
    "with the action: the public reply (公开答复); null when withdrawn",
    "deadline_kind": "time-limit events: accept, dispatch, first_response or resolve",
    "supervision_id": "case.overdue / case.urged / case.supervision_*: the supervision record",
    "supervision_kind": "urge (催办), supervise (督办) or overdue",
    "response_due_at": "case.urged: when the handler must respond",
    "extension_id": "case.extension_requested / case.extended / case.extension_refused",
    "levels_above": "case.major_incident: area paths of every level above the case's area",
    "critical": "case.major_incident: true — deliver at once, whatever the hour",
    "rating_page": "case.closed: the mini-program page where the reporter rates the case",
    "rating_due_at": "case.closed: the end of the rating window",
    "satisfaction": "case.rated: satisfied, basically_satisfied or dissatisfied",
    "on_behalf": "case.rated: recorded by staff on a return visit (回访)",
    "reopen_request_id": "case.reopen_requested / case.reopen_refused",
    "from_area_path": "case.located: where the case was kept before (待定位: the filer's area)",
    "address_id": "case.located: the standard address it was placed by, or null (a point)",
    "dispute_id": "mediation.*: the dispute's mediation file",
    "mediation_status": "mediation.*: the file's status after the step (registered, accepted, "
    "mediating, agreed, failed, refused, referred_department, advised_court, performed)",
    "mediation_level": "mediation.*: community, street or city",
    "judicial_status": "mediation.*: none, applied, confirmed or refused (司法确认)",
    "risk_level": "mediation.*: general, serious or major (一般/较大/重大)",
    "session_number": "mediation.schedule_session: the session's number in the file",
    "contacts_sealed": "mediation.schedule_session: the parties' phones, encrypted; the relay "
    "opens them into ``contacts`` when posting",
    "term_id": "mediation.visit_* / urge / visit_due: the agreement term",
    "deadline_on": "mediation.visit_due: the term's performance deadline",
    "referred_to": "mediation.refer_up: the area path of the level now handling it",
    "confirmation_due_on": "mediation.agree: last day to apply for judicial confirmation",
}
