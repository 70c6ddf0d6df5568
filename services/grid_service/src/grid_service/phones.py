"""Phone numbers: validation and masking (a phone is never logged, and masked in responses)."""

from __future__ import annotations

import re

PHONE_PATTERN = r"^(\+?[0-9]{6,15})$"
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")


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
