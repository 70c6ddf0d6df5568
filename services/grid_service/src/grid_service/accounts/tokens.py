"""Signing access tokens with the active key (ES256, ``kid``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.config import Settings
from grid_service.keys.service import active_key, ensure_active_key, load_private_key
from shared.db import utcnow

_private_keys: dict[str, ec.EllipticCurvePrivateKey] = {}  # kid → decrypted key (per process)


async def sign_access_token(
    session: AsyncSession, settings: Settings, claims: dict[str, Any]
) -> tuple[str, int]:
    """Return ``(jwt, expires_in)``: standard claims added, signed with the active key."""
    key = await active_key(session) or await ensure_active_key(
        session, secret=settings.signing_key_secret
    )
    private = _private_keys.get(key.kid)
    if private is None:
        private = load_private_key(key, secret=settings.signing_key_secret)
        _private_keys[key.kid] = private
    now = utcnow()
    ttl = settings.access_token_ttl_seconds
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        **claims,
    }
    return jwt.encode(payload, private, algorithm="ES256", headers={"kid": key.kid}), ttl
