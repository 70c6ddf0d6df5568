"""Token signing keys (the identity provider's own keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class SigningKey(SQLModel, table=True):
    """An ES256 key pair. The newest un-retired key signs; retired keys stay published in the
    JWKS for a grace period so tokens they signed keep verifying until they expire."""

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str = Field(description="PKCS#8 PEM, encrypted with GRID_SIGNING_KEY_SECRET")
    public_jwk: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    retired_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
