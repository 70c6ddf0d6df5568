"""Signing-key life cycle: create, rotate, publish."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.keys.models import SigningKey
from shared.db import utcnow

_ROTATION_LOCK = 0x6B657973  # pg advisory lock id: one replica creates or rotates keys at a time


def _new_key(secret: str) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    kid = uuid.uuid4().hex[:16]
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, use="sig", alg="ES256")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode()),
    ).decode()
    return SigningKey(kid=kid, private_pem=pem, public_jwk=jwk)


async def ensure_active_key(session: AsyncSession, *, secret: str) -> SigningKey:
    """Return the active signing key, creating one if there is none."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ROTATION_LOCK)))
    active = await active_key(session)
    if active is not None:
        return active
    key = _new_key(secret)
    session.add(key)
    await session.flush()
    return key


async def active_key(session: AsyncSession) -> SigningKey | None:
    result = await session.execute(
        sa.select(SigningKey)
        .where(col(SigningKey.retired_at).is_(None))
        .order_by(col(SigningKey.created_at).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def rotate(session: AsyncSession, *, secret: str) -> SigningKey:
    """Retire the active key and make a new one. The old key stays in the JWKS."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ROTATION_LOCK)))
    now = utcnow()
    await session.execute(
        sa.update(SigningKey).where(col(SigningKey.retired_at).is_(None)).values(retired_at=now)
    )
    key = _new_key(secret)
    session.add(key)
    await session.flush()
    return key


async def published_keys(session: AsyncSession, *, grace: timedelta) -> list[SigningKey]:
    """Keys that verify tokens: the active one and those retired less than ``grace`` ago."""
    cutoff = utcnow() - grace
    result = await session.execute(
        sa.select(SigningKey)
        .where(
            sa.or_(
                col(SigningKey.retired_at).is_(None),
                col(SigningKey.retired_at) > cutoff,
            )
        )
        .order_by(col(SigningKey.created_at).desc())
    )
    return list(result.scalars().all())


def load_private_key(key: SigningKey, *, secret: str) -> ec.EllipticCurvePrivateKey:
    loaded = serialization.load_pem_private_key(key.private_pem.encode(), password=secret.encode())
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded
