"""Argon2id password and secret hashing, off the event loop."""

from __future__ import annotations

import asyncio
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# verified against when the username is unknown, so both paths take the same time
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def configure(*, time_cost: int, memory_kib: int) -> None:
    """Set the cost of new hashes (existing hashes verify with the cost they carry)."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_hasher.hash, secret)


async def verify_secret(stored_hash: str | None, secret: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, secret) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def sha256(value: str) -> str:
    """For high-entropy tokens looked up by hash (refresh tokens, API keys)."""
    return hashlib.sha256(value.encode()).hexdigest()
