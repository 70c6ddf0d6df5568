"""Receiving-side idempotency.

A mutating endpoint that accepts ``Idempotency-Key`` stores (key, request hash, response) in the
same transaction as its own writes. A replay of the same key and body returns the stored
response (with ``Idempotent-Replayed: true``); the same key with a different body is a 422
``idempotency_key_reused``. Two concurrent requests with one key serialise on the primary key:
the second waits for the first to commit and then replays it.

Usage in a route::

    async def create(body: XCreate, session: SessionDep, idem: IdempotencyDep):
        if (replay := await idem.replay()) is not None:
            return replay
        ...
        return await idem.respond(201, XRead.model_validate(x))
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed


class IdempotencyRecord(SQLModel, table=True):
    """One remembered response per (scope, key). Rows older than a day may be purged."""

    __tablename__ = "idempotency_record"

    scope: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response_body: Any = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True),
    )


class Idempotency:
    def __init__(
        self,
        *,
        session: AsyncSession,
        request: Request,
        key: str | None,
        request_hash: str,
        route: str | None = None,
        also_matches: Collection[str] = (),
    ) -> None:
        self.session = session
        self.request = request
        self.key = key
        self.request_hash = request_hash
        self.route = route
        self.also_matches = frozenset(also_matches)

    @property
    def scope(self) -> str:
        """Keys are scoped per route and per caller (read when the endpoint runs, so the
        principal, if any, is known by then). ``route`` names the route explicitly, so that
        two endpoints share keys — a batch endpoint's items and the single endpoint."""
        principal = getattr(self.request.state, "principal_subject", None) or "-"
        route = self.route or f"{self.request.method} {self.request.url.path}"
        return f"{route} {principal}"[:200]

    def item(
        self, *, key: str, request_hash: str, route: str, also_matches: Collection[str] = ()
    ) -> Idempotency:
        """The idempotency of one item of a batch, in the same session, scoped as ``route``."""
        return Idempotency(
            session=self.session,
            request=self.request,
            key=key,
            request_hash=request_hash,
            route=route,
            also_matches=also_matches,
        )

    async def replay(self) -> JSONResponse | None:
        """Claim the key, or return the stored response of an earlier identical request."""
        stored = await self.stored()
        if stored is None:
            return None
        status_code, body = stored
        return JSONResponse(body, status_code=status_code, headers={"Idempotent-Replayed": "true"})

    async def stored(self) -> tuple[int, Any] | None:
        """Claim the key, or return the status and body stored by an earlier identical
        request (the same key with another body: 422 ``idempotency_key_reused``)."""
        if self.key is None:
            return None
        table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
        claimed = await self.session.execute(
            insert(table)
            .values(
                scope=self.scope, key=self.key, request_hash=self.request_hash, created_at=utcnow()
            )
            .on_conflict_do_nothing()
            .returning(table.c.key)
        )
        if claimed.first() is not None:
            return None
        row = (
            await self.session.execute(
                sa.select(table.c.request_hash, table.c.status_code, table.c.response_body).where(
                    table.c.scope == self.scope, table.c.key == self.key
                )
            )
        ).one()
        self._check(row.request_hash)
        return row.status_code or 200, row.response_body

    def _check(self, stored_hash: str) -> None:
        if stored_hash != self.request_hash and stored_hash not in self.also_matches:
            raise ValidationFailed(
                Text(
                    "此 Idempotency-Key 已用于另一个不同的请求",
                    "This Idempotency-Key was already used with a different request",
                ),
                code="idempotency_key_reused",
                errors=[
                    FieldProblem(
                        field="header.Idempotency-Key",
                        reason=Text("已用于不同的请求体", "reused with a different body"),
                        type="reused",
                    )
                ],
            )

    def _replayed(
        self, stored_hash: str, status_code: int | None, response_body: Any
    ) -> JSONResponse:
        self._check(stored_hash)
        return JSONResponse(
            response_body,
            status_code=status_code or 200,
            headers={"Idempotent-Replayed": "true"},
        )

    # One-statement writers (the intake) fold the key into their own statements instead of
    # claiming it first: ``stored_column()`` is a column of their read, ``replay_stored()`` answers
    # from it, and ``record()`` is the insert of the key with its response, written in their
    # one data-modifying statement (``ON CONFLICT DO NOTHING``: a concurrent request with the
    # same key makes it return no row, and the writer then rolls back and replays).

    @staticmethod
    def stored_column() -> sa.ScalarSelect[Any]:
        """The stored request hash, status and response of a key as one JSON value
        (``[hash, status, body]``; null when the key is new), for bound parameters
        ``idem_scope`` and ``idem_key`` (:meth:`stored_params`)."""
        table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
        return (
            sa.select(
                sa.func.json_build_array(
                    table.c.request_hash, table.c.status_code, table.c.response_body
                )
            )
            .where(
                table.c.scope == sa.bindparam("idem_scope", type_=table.c.scope.type),
                table.c.key == sa.bindparam("idem_key", type_=table.c.key.type),
            )
            .scalar_subquery()
        )

    def stored_params(self) -> dict[str, Any] | None:
        """The parameters of :meth:`stored_column`, or None without a key."""
        if self.key is None:
            return None
        return {"idem_scope": self.scope, "idem_key": self.key}

    def replay_stored(self, stored: Any) -> JSONResponse | None:
        """The replay of an earlier identical request from ``stored_column()``'s value (422 for a
        different body), or None when the key is new."""
        if stored is None:
            return None
        stored_hash, status_code, response_body = stored
        return self._replayed(stored_hash, status_code, response_body)

    def body(self, content: Any) -> Any:
        """The JSON a response of ``content`` carries (and a replay returns)."""
        if isinstance(content, BaseModel):
            # what jsonable_encoder gives for a model, without walking the dumped tree again
            return content.model_dump(mode="json", by_alias=True)
        return jsonable_encoder(content)

    def record(self, status_code: int, body: Any) -> tuple[Any, dict[str, Any]] | None:
        """``INSERT`` of this key with its response, ``ON CONFLICT DO NOTHING RETURNING key``
        (no row: another request holds the key), and its parameters; None without a key.
        The statement is one constant (bound parameters), so it is compiled once."""
        if self.key is None:
            return None
        return _record_statement(), {
            "idem_scope": self.scope,
            "idem_key": self.key,
            "idem_request_hash": self.request_hash,
            "idem_status_code": status_code,
            "idem_response_body": body,
            "idem_created_at": utcnow(),
        }

    async def respond(self, status_code: int, content: Any) -> JSONResponse:
        """Remember the response (when a key was given) and return it."""
        body = self.body(content)
        if self.key is not None:
            table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
            await self.session.execute(
                sa.update(table)
                .where(table.c.scope == self.scope, table.c.key == self.key)
                .values(status_code=status_code, response_body=body)
            )
        return JSONResponse(body, status_code=status_code)


@functools.cache
def _record_statement() -> Any:
    table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .values({c.key: sa.bindparam(f"idem_{c.key}", type_=c.type) for c in table.c})
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )


def canonical_hash(route: str, body: Any) -> str:
    """What a replay must match when the same item can arrive by more than one endpoint (alone
    or inside a batch): the route it counts as and its JSON with sorted keys — so neither the
    key order nor the spacing of the sender's encoder matters."""
    text = json.dumps(
        jsonable_encoder(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(route.encode() + b"\n" + text.encode()).hexdigest()


def raw_body_hash(method: str, path: str, body: bytes) -> str:
    """The hash of :func:`request_hash` for a given method, path and raw body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def request_hash(request: Request) -> str:
    """What a replay must match: method, path and the raw body."""
    body = await request.body()
    return hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()


async def get_idempotency(
    request: Request,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="makes the request safe to repeat: the same key and body return "
            "the first response; the same key with another body is refused with 422",
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(
        session=session,
        request=request,
        key=idempotency_key or None,
        request_hash=await request_hash(request),
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
