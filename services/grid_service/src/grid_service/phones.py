"""Phone numbers: validation and masking (a phone is never logged, and masked in responses)."""

from __future__ import annotations

from shared.pii import mask_phone

__all__ = ["PHONE_PATTERN", "mask_phone"]

PHONE_PATTERN = r"^(\+?[0-9]{6,15})$"
