"""Keyset (cursor) pagination.

Lists are ordered on a stable key such as ``(created_at, id)``; the cursor is an opaque,
URL-safe token holding the last row's key. ``limit`` is capped at 100. Callers build the
statement with their filters and hand it to :func:`paginate`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(
        None, description="opaque cursor for the next page; null on the last page"
    )


class PageParams(BaseModel):
    cursor: str | None = None
    limit: int = 20


def page_params(
    cursor: Annotated[
        str | None, Query(description="opaque cursor from the previous page's `next_cursor`")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size, at most 100")] = 20,
) -> PageParams:
    return PageParams(cursor=cursor or None, limit=limit)


PageDep = Annotated[PageParams, Depends(page_params)]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        Text("该游标不是本服务签发的", "The cursor is not one this service issued"),
        code="invalid_cursor",
        errors=[
            FieldProblem(
                field="query.cursor",
                reason=Text("游标格式错误或来自他处", "malformed or foreign cursor"),
            )
        ],
    )


def decode_cursor(cursor: str, columns: Sequence[sa.ColumnElement[Any]]) -> list[Any]:
    """Decode a cursor and coerce each value to its column's Python type."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(values, list) or len(values) != len(columns):
        raise _bad_cursor()
    out: list[Any] = []
    for value, column in zip(values, columns, strict=True):
        try:
            py_type = column.type.python_type
        except NotImplementedError:
            py_type = object
        try:
            if value is None:
                out.append(None)
            elif py_type is datetime:
                out.append(datetime.fromisoformat(value))
            elif py_type is uuid.UUID:
                out.append(uuid.UUID(value))
            elif py_type in (int, str, float):
                out.append(py_type(value))
            else:
                out.append(value)
        except (TypeError, ValueError) as exc:
            raise _bad_cursor() from exc
    return out


async def paginate(
    session: AsyncSession,
    stmt: sa.Select[Any],
    *,
    order_by: Sequence[sa.ColumnElement[Any]],
    params: PageParams,
    descending: bool = True,
    to_item: Callable[[Any], T],
    scalars: bool = True,
) -> Page[T]:
    """Apply the cursor and order to ``stmt``, fetch ``limit + 1`` rows and build the page.

    ``order_by`` must be unique together (end with the primary key) and backed by an index.
    """
    if params.cursor:
        values = decode_cursor(params.cursor, order_by)
        key = sa.tuple_(*order_by)
        bound = sa.tuple_(
            *[sa.literal(v, type_=c.type) for v, c in zip(values, order_by, strict=True)]
        )
        stmt = stmt.where(key < bound if descending else key > bound)
    ordering = [c.desc() if descending else c.asc() for c in order_by]
    stmt = stmt.order_by(*ordering).limit(params.limit + 1)
    result = await session.execute(stmt)
    rows = list(result.scalars().all() if scalars else result.all())
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([_key_of(last, c) for c in order_by])
    return Page[T](items=[to_item(r) for r in rows], next_cursor=next_cursor)


def _key_of(row: Any, column: sa.ColumnElement[Any]) -> Any:
    name = getattr(column, "key", None) or getattr(column, "name", None)
    if name is None:
        raise ValueError("order_by columns must be named")
    if hasattr(row, "_mapping"):
        return row._mapping[name]
    return getattr(row, name)
