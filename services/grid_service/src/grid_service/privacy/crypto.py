"""Personal data at rest in grid_service: the shared AES-256-GCM scheme (:mod:`shared.pii`)
under ``GRID_PII_KEYS`` and ``GRID_PII_HASH_KEY``."""

from __future__ import annotations

from typing import Any

from grid_service.config import Settings
from shared.pii import NONCE_BYTES, PiiKeyMissing, normalise
from shared.pii import PiiCipher as _SharedCipher

__all__ = ["NONCE_BYTES", "PiiCipher", "PiiKeyMissing", "get_cipher", "normalise"]


class PiiCipher(_SharedCipher):
    @classmethod
    def from_settings(cls, settings: Settings) -> PiiCipher:
        return cls.from_keys(settings.pii_keys, settings.pii_hash_key)


def get_cipher(state: Any) -> PiiCipher:
    """The app's cipher, built once from its settings (``app.state.pii_cipher``)."""
    cipher: PiiCipher | None = getattr(state, "pii_cipher", None)
    if cipher is None:
        cipher = PiiCipher.from_settings(state.settings)
        state.pii_cipher = cipher
    return cipher
