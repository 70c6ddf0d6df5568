"""Every table of case_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from case_service.attachments.models import Attachment
from case_service.cases.models import Case, CaseAssignment, CaseSupport, TimelineEntry
from case_service.categories.models import Category
from case_service.evaluations.models import Evaluation, ReopenRequest, ReturnVisit
from case_service.mediation.models import (
    Dispute,
    DisputeMediator,
    DisputeParty,
    DisputePartyReveal,
    DisputeSession,
    DisputeTerm,
    MediationTemplate,
)
from case_service.open311.models import Open311Request
from case_service.outbox.models import OutboxEvent
from case_service.privacy.models import ReporterReveal
from case_service.sla.models import (
    CalendarOverride,
    CaseDeadline,
    Extension,
    SlaPolicy,
    SlaTimer,
    Supervision,
)
from case_service.stats.models import CaseFact, StatsDirty
from case_service.webhooks.models import WebhookDelivery, WebhookSubscription
from case_service.workorders.models import CategoryMapping, WorkOrder
from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = [
    "Attachment",
    "CalendarOverride",
    "Case",
    "CaseAssignment",
    "CaseDeadline",
    "CaseFact",
    "CaseSupport",
    "Category",
    "CategoryMapping",
    "Dispute",
    "DisputeMediator",
    "DisputeParty",
    "DisputePartyReveal",
    "DisputeSession",
    "DisputeTerm",
    "Evaluation",
    "Extension",
    "IdempotencyRecord",
    "MediationTemplate",
    "Open311Request",
    "OutboxEvent",
    "ReopenRequest",
    "ReporterReveal",
    "ReturnVisit",
    "SlaPolicy",
    "SlaTimer",
    "StatsDirty",
    "Supervision",
    "TimelineEntry",
    "WebhookDelivery",
    "WebhookSubscription",
    "WorkOrder",
    "metadata",
]
