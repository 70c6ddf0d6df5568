"""Accounts (staff and residents), refresh tokens and platform clients."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class AccountKind(StrEnum):
    staff = "staff"
    resident = "resident"


class Account(SQLModel, table=True):
    """A person who signs in: staff (username + password) or a resident (WeChat)."""

    __tablename__ = "account"
    __table_args__ = (
        sa.Index(
            "ix_account_kind_home_area_path_id",
            "kind",
            "home_area_path",
            "id",
            postgresql_ops={"home_area_path": "varchar_pattern_ops"},
        ),
        sa.Index("ix_account_created_at_id", "created_at", "id"),
        sa.Index("ix_account_area_paths", "area_paths", postgresql_using="gin"),
        sa.Index("ix_account_department_ids", "department_ids", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)
    username: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(max_length=100)
    password_hash: str | None = Field(default=None, max_length=255)
    roles: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(32)), nullable=False)
    )
    area_paths: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(400)), nullable=False),
        description="areas the account may act in (token claim `areas`)",
    )
    department_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False)
    )
    home_area_path: str | None = Field(
        default=None, max_length=400, description="where a resident lives / a staff member works"
    )
    # Stored plainly for now, never logged, masked in every response but the recipient API.
    phone: str | None = Field(default=None, max_length=20)
    wechat_mp_openid: str | None = Field(default=None, max_length=64, unique=True)
    wechat_oa_openid: str | None = Field(default=None, max_length=64)
    wechat_unionid: str | None = Field(default=None, max_length=64)
    channels: list[str] = Field(
        default_factory=lambda: ["wechat_mp", "sms"],
        sa_column=sa.Column(ARRAY(sa.String(16)), nullable=False),
    )
    failed_logins: int = 0
    locked_until: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    disabled: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class RefreshToken(SQLModel, table=True):
    """A single-use refresh token (only its SHA-256 is stored). Each use issues the next one in
    the same family; presenting a used token again revokes the whole family."""

    __tablename__ = "refresh_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    family_id: uuid.UUID = Field(index=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )


class Revocation(SQLModel, table=True):
    """One revoked sign-in (``kind="sid"``: a refresh-token family, the ``sid`` claim of its
    access tokens) or every token of an account issued until ``revoked_at`` (``kind="account"``:
    disabled, new password). Published in ``id`` order at ``GET /api/v1/auth/revocations`` and
    followed by every service (shared.revocation)."""

    __tablename__ = "revocation"
    __table_args__ = (sa.Index("ix_revocation_revoked_at", "revoked_at"),)

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    kind: str = Field(max_length=8)
    value: str = Field(max_length=64)
    revoked_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class PlatformClient(SQLModel, table=True):
    """Another platform (12345 hotline, portals) or one of our services: OAuth2 client
    credentials (argon2-hashed secret) with limited scopes, and optionally an API key
    (SHA-256 stored) for Open311."""

    __tablename__ = "platform_client"
    __table_args__ = (sa.Index("ix_platform_client_created_at_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=64, description="the OAuth2 client_id")
    name: str = Field(max_length=100)
    secret_hash: str = Field(max_length=255)
    scopes: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False)
    )
    api_key_hash: str | None = Field(default=None, max_length=64, unique=True)
    disabled: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
