"""Every table of grid_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from grid_service.accounts.models import Account, PlatformClient, RefreshToken
from grid_service.areas.models import Area, AreaTreeVersion
from grid_service.departments.models import Department
from grid_service.keys.models import SigningKey
from grid_service.members.models import Member
from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "Area",
    "AreaTreeVersion",
    "Department",
    "IdempotencyRecord",
    "Member",
    "PlatformClient",
    "RefreshToken",
    "SigningKey",
    "metadata",
]
