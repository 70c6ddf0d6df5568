"""Wire schemas of the audit trail and special-group grants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from grid_service.basicinfo.specialgroups import SpecialGroup


class AuditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: datetime
    actor_id: str
    actor_name: str | None
    actor_roles: list[str]
    action: str = Field(description="reveal, export, grant or revoke")
    subject_kind: str
    subject_ids: list[str]
    fields: list[str]
    row_count: int
    reason: str
    request_id: str | None
    detail: dict[str, Any]


class GrantCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
                    "tag": "community_correction",
                    "reason": "社区矫正专干",
                }
            ]
        },
    )

    account_id: uuid.UUID
    tag: SpecialGroup
    reason: str = Field(min_length=2, max_length=500, description="why this account needs it")


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account_id: str
    tag: SpecialGroup
    granted_by: str
    granted_at: datetime
