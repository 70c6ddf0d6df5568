"""Attachment schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class AttachmentKind(StrEnum):
    photo = "photo"
    video = "video"
    document = "document"


class Purpose(StrEnum):
    evidence = "evidence"
    before = "before"  # 处置前照片
    after = "after"  # 处置后照片


class AttachmentRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11",
                "kind": "photo",
                "content_type": "image/jpeg",
                "size_bytes": 482133,
                "sha256": "9f2c…",
                "filename": "井盖.jpg",
                "purpose": "before",
                "case_id": None,
                "created_at": "2026-11-23T08:31:00Z",
            }
        },
    )

    id: uuid.UUID
    kind: AttachmentKind
    content_type: str = Field(description="detected from the bytes, not from the file name")
    size_bytes: int
    sha256: str
    filename: str | None
    purpose: Purpose
    case_id: uuid.UUID | None = Field(description="set once a case or action uses it")
    created_at: datetime
