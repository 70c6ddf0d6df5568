"""Personal data at rest: AES-256-GCM with rotatable keys, and a keyed hash for exact lookup.

Shared by grid_service (residents' ID and phone numbers) and case_service (reporters' names and
phones). A ciphertext is stored as ``<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``, so a value
keeps naming the key that sealed it: the first configured key encrypts, every listed key
decrypts, and :meth:`PiiCipher.needs_rotation` tells which values to re-encrypt after a new key
is put first. The field name is bound as associated data, so a ciphertext copied into another
column does not decrypt. The lookup hash is HMAC-SHA256 under a separate key of the normalised
value: equal values hash equally, and without the key the hash cannot be brute-forced from the
small space of ID or phone numbers. Keys are decoded once when the cipher is built; encrypting
a field is one AES-GCM call (no per-request key derivation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, Field, field_validator

NONCE_BYTES = 12

#: Development-only keys for personal data; production refuses them (ids start with "dev").
DEV_PII_KEY_ID = "dev1"
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS1kZXYtb25seS1waWkta2U="  # base64 of 32 ASCII bytes


class PiiKey(BaseModel):
    """One AES-256 key for personal data at rest: ``id`` is stored beside each ciphertext."""

    id: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    key: str = Field(description="base64 of 32 random bytes")

    @field_validator("key")
    @classmethod
    def _thirty_two_bytes(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("must be base64") from exc
        if len(raw) != 32:
            raise ValueError("must decode to 32 bytes (AES-256)")
        return value


def dev_keys() -> list[PiiKey]:
    return [PiiKey(id=DEV_PII_KEY_ID, key=DEV_PII_KEY)]


def keys_problem(keys: Sequence[PiiKey]) -> str | None:
    """Why these keys must not be used in production (a development key), or None."""
    if any(k.id.startswith("dev") or k.key == DEV_PII_KEY for k in keys):
        return "pii_keys must be keys of your own (a development key is set)"
    return None


class PiiKeyMissing(Exception):
    """A stored value names a key that is no longer configured (or does not authenticate)."""


def normalise(value: str) -> str:
    """What is hashed and encrypted: no spaces, an ID number's check letter upper-case."""
    return "".join(value.split()).upper()


class PiiCipher:
    def __init__(self, keys: list[tuple[str, bytes]], hash_key: bytes) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self.primary_id = keys[0][0]
        self._aead = {kid: AESGCM(raw) for kid, raw in keys}
        self._hash_key = hash_key

    @classmethod
    def from_keys(cls, keys: Sequence[PiiKey], hash_key: str) -> Self:
        return cls([(k.id, base64.b64decode(k.key)) for k in keys], hash_key.encode())

    def encrypt(self, value: str, *, field: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.primary_id].encrypt(nonce, value.encode(), field.encode())
        return f"{self.primary_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, *, field: str) -> str:
        kid, _, body = stored.partition(":")
        aead = self._aead.get(kid)
        if aead is None:
            raise PiiKeyMissing(f"key {kid!r} is not configured")
        raw = base64.urlsafe_b64decode(body.encode())
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field.encode())
        except InvalidTag as exc:
            raise PiiKeyMissing(f"value does not authenticate under key {kid!r}") from exc
        return plain.decode()

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hash_key, normalise(value).encode(), hashlib.sha256).hexdigest()

    def needs_rotation(self, stored: str | None) -> bool:
        return stored is not None and not stored.startswith(self.primary_id + ":")


_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")


def phone_key(phone: str) -> str:
    """A phone as it is looked up: no spaces, a mainland mobile without +86 (``+86 138 1234
    5678`` and ``13812345678`` are one number)."""
    compact = "".join(phone.split())
    mobile = _MOBILE.match(compact)
    return mobile.group(1) if mobile else compact


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = phone.lstrip("+")
    mobile = _MOBILE.match(phone)
    if mobile:
        digits = mobile.group(1)
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``: the family name only."""
    if not name:
        return None
    return name[0] + "*" * max(1, len(name) - 1)
