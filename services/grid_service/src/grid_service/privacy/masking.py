"""Masks shown instead of personal numbers: ``110***********1234`` and ``138****5678``."""

from __future__ import annotations

from grid_service.phones import mask_phone

__all__ = ["mask_id_number", "mask_phone"]


def mask_id_number(value: str | None) -> str | None:
    """Keep the first three characters (province and city) and the last four."""
    if not value:
        return None
    if len(value) <= 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
