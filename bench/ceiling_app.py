"""The ceiling for intake: the least a FastAPI + asyncpg service can do per report — parse and
validate the same JSON body as ``POST /api/v1/cases``, insert one row, answer 201 — served by
uvicorn with the same settings as the services (``shared.cli``'s ``serve``: one process,
``timeout_graceful_shutdown=20``, ``log_config=None``, ``proxy_headers=True``, uvicorn's
default loop and HTTP parser) and a pool as large as theirs (10 + 10 overflow).

    uv run python bench/ceiling_app.py --database-url postgresql://… --port 8099
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

TABLE = """
CREATE TABLE IF NOT EXISTS ceiling_case (
    id uuid PRIMARY KEY,
    category_code varchar(32) NOT NULL,
    description text NOT NULL,
    lat double precision,
    lng double precision,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class Location(BaseModel):
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


class Report(BaseModel):
    category_code: str = Field(min_length=1, max_length=32)
    channel: str
    description: str = Field(min_length=1, max_length=4000)
    location: Location


def create_app(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(database_url, min_size=10, max_size=20)
        async with pool.acquire() as conn:
            await conn.execute(TABLE)
        app.state.pool = pool
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/v1/cases", status_code=201)
    async def create(report: Report, request: Request) -> dict[str, Any]:
        case_id = uuid.uuid4()
        async with request.app.state.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO ceiling_case (id, category_code, description, lat, lng, body)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                case_id,
                report.category_code,
                report.description,
                report.location.lat,
                report.location.lng,
                json.dumps(report.model_dump()),
            )
        return {"id": str(case_id), "status": "reported"}

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    uvicorn.run(
        create_app(url),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=20,
        log_config=None,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
