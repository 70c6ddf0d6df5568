"""Keyset pagination over a real table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_sessionmaker
from shared.pagination import PageParams, decode_cursor, encode_cursor, paginate
from shared.problem import ValidationFailed

item = sa.Table(
    "page_item",
    sa.MetaData(),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


async def test_pages_cover_every_row_once_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(item.metadata.create_all)
        await conn.execute(sa.text("TRUNCATE page_item"))
        base = datetime(2026, 1, 1, tzinfo=UTC)
        # Ties on created_at are broken by id.
        rows = [
            {"id": uuid.uuid4(), "created_at": base + timedelta(minutes=i // 3)} for i in range(25)
        ]
        await conn.execute(item.insert(), rows)
    maker = make_sessionmaker(engine)
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    async with maker() as session:
        while True:
            page = await paginate(
                session,
                sa.select(item),
                order_by=[item.c.created_at, item.c.id],
                params=PageParams(cursor=cursor, limit=10),
                to_item=lambda r: r.id,
                scalars=False,
            )
            pages += 1
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    expected = [
        r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    ]
    assert seen == expected
    assert pages == 3


def test_cursor_round_trip_and_refusal() -> None:
    when = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    ident = uuid.uuid4()
    cursor = encode_cursor([when, ident])
    assert decode_cursor(cursor, [item.c.created_at, item.c.id]) == [when, ident]
    for bad in ("not-base64!!", encode_cursor([1]), encode_cursor(["x", "y"])):
        with pytest.raises(ValidationFailed) as info:
            decode_cursor(bad, [item.c.created_at, item.c.id])
        assert info.value.instance_code == "invalid_cursor"
        assert info.value.errors[0].field == "query.cursor"
