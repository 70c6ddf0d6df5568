"""Re-encrypting stored personal numbers under the current key after a key rotation.

Rotation: put a new key first in ``GRID_PII_KEYS`` (keep the old ones listed), restart, then
call ``POST /api/v1/privacy/re-encryption`` until ``remaining`` is 0; then the old key may be
removed. The lookup hashes do not change (they use ``GRID_PII_HASH_KEY``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.basicinfo.models import KeyPlace, Organisation, Resident
from grid_service.basicinfo.service import (
    ID_FIELD,
    ORG_PHONE_FIELD,
    PHONE_FIELD,
    PLACE_PHONE_FIELD,
)
from grid_service.privacy.crypto import PiiCipher

#: (table, column, associated-data field name)
ENCRYPTED_COLUMNS: list[tuple[Any, str, str]] = [
    (Resident.__table__, "id_number_enc", ID_FIELD),  # type: ignore[attr-defined]
    (Resident.__table__, "phone_enc", PHONE_FIELD),  # type: ignore[attr-defined]
    (Organisation.__table__, "contact_phone_enc", ORG_PHONE_FIELD),  # type: ignore[attr-defined]
    (KeyPlace.__table__, "responsible_phone_enc", PLACE_PHONE_FIELD),  # type: ignore[attr-defined]
]


def _stale(table: Any, column: str, cipher: PiiCipher) -> sa.ColumnElement[bool]:
    c = table.c[column]
    return sa.and_(c.is_not(None), sa.not_(c.startswith(cipher.primary_id + ":")))


async def re_encrypt(session: AsyncSession, cipher: PiiCipher, *, limit: int) -> tuple[int, int]:
    """Re-encrypt up to ``limit`` values not under the current key; (done, remaining)."""
    done = 0
    for table, column, field in ENCRYPTED_COLUMNS:
        if done >= limit:
            break
        rows = (
            await session.execute(
                sa.select(table.c.id, table.c[column])
                .where(_stale(table, column, cipher))
                .limit(limit - done)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row_id, stored in rows:
            fresh = cipher.encrypt(cipher.decrypt(stored, field=field), field=field)
            await session.execute(
                sa.update(table).where(table.c.id == row_id).values({column: fresh})
            )
        done += len(rows)
    remaining = 0
    for table, column, _field in ENCRYPTED_COLUMNS:
        remaining += int(
            (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(_stale(table, column, cipher))
                )
            ).scalar_one()
        )
    return done, remaining
