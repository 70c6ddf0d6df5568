"""Every table of notify_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from notify_service.broadcasts.models import Broadcast
from notify_service.inbox.models import InboxItem
from notify_service.notifications.models import DeliveryReceipt, Notification, NotificationEvent
from notify_service.templates.models import MessageTemplate
from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = [
    "Broadcast",
    "DeliveryReceipt",
    "IdempotencyRecord",
    "InboxItem",
    "MessageTemplate",
    "Notification",
    "NotificationEvent",
    "metadata",
]
