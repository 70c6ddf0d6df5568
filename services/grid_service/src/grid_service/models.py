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
from grid_service.messages.models import OutboxMessage
from grid_service.patrols.models import Patrol, PatrolCheckIn, PatrolFinding, PatrolTrackPoint
from grid_service.points.models import PointsBalance, PointsEntry, PointsRule, ShopItem
from grid_service.privacy.models import PiiAuditRecord, SpecialGroupGrant
from grid_service.visits.models import Visit
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
    "OutboxMessage",
    "Patrol",
    "PatrolCheckIn",
    "PatrolFinding",
    "PatrolTrackPoint",
    "PiiAuditRecord",
    "PlatformClient",
    "PointsBalance",
    "PointsEntry",
    "PointsRule",
    "RefreshToken",
    "Resident",
    "ShopItem",
    "SigningKey",
    "SpecialGroupGrant",
    "SpecialGroupTag",
    "StandardAddress",
    "Visit",
    "metadata",
]
