"""Case domain events: written to case_service's outbox, relayed to notify_service.

The relay: ``POST {notify}/api/v1/events`` with the :class:`CaseEvent` as JSON body,
``Idempotency-Key: <CaseEvent.id>`` (the outbox row id) and a bearer token of a platform client
holding scope ``events:write``. Retry until a 2xx; a repeat of the same event creates nothing
new (the first answer is replayed). 202 means stored: notify_service delivers it later. A 422
is a malformed event and will not succeed on retry.

Who hears what (notify_service maps ``type`` → recipients → template):

=============================================  ==============================  ==============
``type``                                       recipients (payload key)        template key
=============================================  ==============================  ==============
``case.accepted``                              ``reporter_account_id``         case_accepted
``case.rejected``                              ``reporter_account_id``         case_rejected
``case.dispatched`` ``case.assigned``          ``assignee_account_ids``        case_assigned
``case.reassigned``
``case.deadline_set`` ``case.extended``        ``reporter_account_id``         case_deadline
``case.deadline_approaching`` ``case.urged``   ``assignee_account_ids``        case_reminder
``case.overdue``                               ``supervisor_account_ids``      case_overdue
``case.resolved``                              ``reporter_account_id``         case_result
``case.closed``                                ``reporter_account_id``         case_rating_request
any type with ``payload.major`` true           ``leader_account_ids``          case_major_incident
=============================================  ==============================  ==============

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
    leader_account_ids: list[uuid.UUID] = Field(
        default_factory=list, description="leaders of the levels above, told of major incidents"
    )
    due_at: datetime | None = Field(None, description="current deadline (timezone-aware)")
    result: str | None = Field(
        None, max_length=500, description="handling result told to the reporter"
    )
    major: bool = Field(False, description="a major incident (重大事件): leaders hear at once")


#: The payload keys notify_service reads (see :class:`CaseEventPayload`).
CASE_EVENT_PAYLOAD_KEYS: tuple[str, ...] = tuple(CaseEventPayload.model_fields)
