"""Every table of grid_service, gathered for Alembic (``metadata``)."""

from sqlmodel import SQLModel

from grid_service.accounts.models import Account, PlatformClient, RefreshToken
from grid_service.areas.models import Area, AreaTreeVersion
from grid_service.basicinfo.models import (
    Building,
    House,
    Household,
    KeyPlace,
    Organisation,
    Resident,
    SpecialGroupTag,
    StandardAddress,
)
from grid_service.departments.models import Department
from grid_service.keys.models import SigningKey
from grid_service.members.models import Member
from grid_service.privacy.models import PiiAuditRecord, SpecialGroupGrant
from shared.idempotency import IdempotencyRecord

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "Area",
    "AreaTreeVersion",
    "Building",
    "Department",
    "House",
    "Household",
    "IdempotencyRecord",
    "KeyPlace",
    "Member",
    "Organisation",
    "PiiAuditRecord",
    "PlatformClient",
    "RefreshToken",
    "Resident",
    "SigningKey",
    "SpecialGroupGrant",
    "SpecialGroupTag",
    "StandardAddress",
    "metadata",
]
