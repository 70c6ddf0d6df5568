"""Receiving-side idempotency on a real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from shared.db import SessionDep, make_sessionmaker
from shared.idempotency import IdempotencyDep, IdempotencyRecord
from shared.middleware import RequestContextMiddleware
from shared.problem import install_problem_handlers

widget = sa.Table(
    "widget",
    sa.MetaData(),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
)


class WidgetIn(BaseModel):
    name: str


@pytest_asyncio.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda c: SQLModel.metadata.create_all(c, tables=[IdempotencyRecord.__table__])  # type: ignore[attr-defined]
        )
        await conn.run_sync(widget.metadata.create_all)
        await conn.execute(sa.text("TRUNCATE widget, idempotency_record"))
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="t", max_body_bytes=10_000)
    app.state.sessionmaker = make_sessionmaker(engine)

    @app.post("/widgets", status_code=201)
    async def create(body: WidgetIn, session: SessionDep, idem: IdempotencyDep) -> object:
        if (replay := await idem.replay()) is not None:
            return replay
        new_id = uuid.uuid4()
        await session.execute(widget.insert().values(id=new_id, name=body.name))
        await asyncio.sleep(0.05)  # widen the window for the concurrency test
        return await idem.respond(201, {"id": new_id, "name": body.name})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM widget"))).scalar_one())


async def test_replay_returns_the_stored_response(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/widgets", json={"name": "a"}, headers={"Idempotency-Key": "k1"})
    again = await client.post("/widgets", json={"name": "a"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(engine) == 1


async def test_reused_key_with_another_body_is_422(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/widgets", json={"name": "a"}, headers={"Idempotency-Key": "k2"})
    r = await client.post("/widgets", json={"name": "b"}, headers={"Idempotency-Key": "k2"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "idempotency_key_reused"
    assert r.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await count(engine) == 1


async def test_without_a_key_every_request_counts(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/widgets", json={"name": "a"})
    await client.post("/widgets", json={"name": "a"})
    assert await count(engine) == 2


async def test_concurrent_requests_with_one_key_apply_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    responses = await asyncio.gather(
        *[
            client.post("/widgets", json={"name": "c"}, headers={"Idempotency-Key": "k3"})
            for _ in range(5)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(engine) == 1
