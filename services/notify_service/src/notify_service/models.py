"""Every table of notify_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = ["IdempotencyRecord", "metadata"]
