"""Personal data at rest: AES-256-GCM with rotatable keys, and a keyed hash for exact lookup.

A ciphertext is stored as ``<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``, so a value keeps
naming the key that sealed it: the first key of ``GRID_PII_KEYS`` encrypts, every listed key
decrypts, and :func:`needs_rotation` tells which values to re-encrypt after a new key is put
first. The field name is bound as associated data, so a ciphertext copied into another column
does not decrypt. The lookup hash is HMAC-SHA256 under ``GRID_PII_HASH_KEY`` of the normalised
value: equal values hash equally, and without the key the hash cannot be brute-forced from the
small space of ID or phone numbers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from grid_service.config import Settings

NONCE_BYTES = 12


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
    def from_settings(cls, settings: Settings) -> PiiCipher:
        keys = [(k.id, base64.b64decode(k.key)) for k in settings.pii_keys]
        return cls(keys, settings.pii_hash_key.encode())

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


def get_cipher(state: Any) -> PiiCipher:
    """The app's cipher, built once from its settings (``app.state.pii_cipher``)."""
    cipher: PiiCipher | None = getattr(state, "pii_cipher", None)
    if cipher is None:
        cipher = PiiCipher.from_settings(state.settings)
        state.pii_cipher = cipher
    return cipher
