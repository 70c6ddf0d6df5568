"""Every table of grid_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from grid_service.keys.models import SigningKey
from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = ["IdempotencyRecord", "SigningKey", "metadata"]
