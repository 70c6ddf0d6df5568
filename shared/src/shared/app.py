"""The service app factory: what every Gridgov service has in common.

``create_service_app(spec)`` returns a FastAPI app with problem handlers, the request-context
middleware, ``/healthz``, ``/readyz`` (database reachable and migrations at head), ``/metrics``,
OpenAPI at ``/openapi.json`` and ``/docs``, and a lifespan that builds the engine, the
sessionmaker, the JWKS verifier and the service's own clients and workers (``spec.on_startup``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from shared.auth import JWKSVerifier
from shared.db import make_engine, make_sessionmaker
from shared.embedded_pg import ensure_database, start_embedded
from shared.http import ServiceClient
from shared.i18n import Text
from shared.logging import configure_logging, get_logger
from shared.metrics import render
from shared.middleware import QuietRoute, RequestContextMiddleware
from shared.migrate import head_revision
from shared.problem import (
    UpstreamError,
    install_problem_handlers,
    problem_response,
    problem_responses,
)
from shared.revocation import FEED_PATH, Fetch, RevocationList
from shared.settings import BaseServiceSettings

log = get_logger(__name__)

Hook = Callable[[FastAPI], Awaitable[None]]

#: Set by ``shared.cli`` serve (one process serving one app for its lifetime): after start-up
#: the cyclic garbage collector is tuned for serving, see :func:`tune_gc_for_serving`. Tests
#: build many apps in one process and leave the collector alone.
TUNE_GC_AFTER_STARTUP = False

#: Allocations between young-generation collections (CPython's default is 700).
GC_GEN0_THRESHOLD = 20_000


def tune_gc_for_serving() -> None:
    """Keep the cyclic GC from pausing requests.

    Measured on case_service at half its maximum intake rate: full (generation 2) collections
    walked the ~225,000 objects of the start-up heap (modules, FastAPI routes, pydantic and
    SQLAlchemy models) and stopped the event loop for 200-360 ms each, a few times a minute,
    in every service; that was the p99. ``gc.freeze()`` moves everything alive after start-up
    into the permanent generation, which collections never walk (it is not garbage: the app
    holds it for the life of the process). A young-generation threshold of 20,000 allocations
    instead of 700 makes collections rarer; each still only walks what survived reference
    counting, which a request leaves little of, so they stay short and memory does not grow.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    settings: BaseServiceSettings
    alembic_ini: Path
    database_name: str
    routers: Sequence[APIRouter] = ()
    version: str = "0.1.0"
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    on_startup: Hook | None = None
    on_shutdown: Hook | None = None
    large_body_bytes: int | None = None
    large_body_markers: tuple[str, ...] = ()
    #: route path templates whose ordinary answers the access log keeps at DEBUG
    #: (:class:`shared.middleware.QuietRoute`; the hot internal calls)
    quiet_routes: Mapping[str, QuietRoute] = field(default_factory=dict)
    configure: Callable[[FastAPI], None] | None = None
    #: run before /metrics answers: gauges read from the database (errors are logged)
    metrics_hook: Hook | None = None


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    service: str = Field(examples=["case_service"])


class Readiness(Health):
    database: str = Field(examples=["ok"])
    migration: str | None = Field(None, examples=["0001"])
    head: str | None = Field(None, examples=["0001"])


async def resolve_database_url(settings: BaseServiceSettings, database_name: str) -> str:
    """The configured URL, or this service's database on the embedded server."""
    if settings.database_url:
        return settings.database_url
    server = await asyncio.to_thread(start_embedded, settings.embedded_pg_dir)
    return await ensure_database(server, database_name)


def jwks_client(settings: BaseServiceSettings) -> tuple[ServiceClient, str]:
    parts = urlsplit(settings.jwks_url)
    base = f"{parts.scheme}://{parts.netloc}"
    client = ServiceClient(
        base, name="jwks", timeout=settings.http_timeout_seconds, retries=settings.http_retries
    )
    return client, parts.path or "/.well-known/jwks.json"


def _ops_router(spec: ServiceSpec) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
    async def healthz() -> Health:
        return Health(status="ok", service=spec.name)

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness: the database answers and its migrations are at head",
        responses=problem_responses(503),
    )
    async def readyz(request: Request) -> Any:
        head: str | None = request.app.state.migration_head
        try:
            async with request.app.state.engine.connect() as conn:
                migrated = (
                    await conn.execute(sa.text("SELECT to_regclass('alembic_version')"))
                ).scalar_one()
                versions = (
                    (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))
                    .scalars()
                    .all()
                    if migrated
                    else []
                )
            current = ",".join(sorted(versions)) or None
        except Exception as exc:
            log.warning("readyz_database_failed", error=type(exc).__name__)
            return problem_response(
                request,
                status=503,
                code="database_unavailable",
                detail=Text("数据库无应答", "The database does not answer"),
            )
        if current != head:
            return problem_response(
                request,
                status=503,
                code="migrations_pending",
                detail=Text(
                    f"数据库版本为 {current}，代码需要 {head}",
                    f"Database at {current}, code expects {head}",
                ),
                extra={"migration": current, "head": head},
            )
        return Readiness(
            status="ok", service=spec.name, database="ok", migration=current, head=head
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        if spec.metrics_hook is not None:
            try:
                await asyncio.wait_for(spec.metrics_hook(request.app), timeout=5)
            except Exception as exc:  # a scrape answers with what it has
                log.warning("metrics_hook_failed", error=type(exc).__name__)
        body, content_type = render()
        return Response(body, media_type=content_type)

    return router


LANGUAGE_NOTE = """**Language.** Problems (`title`, `detail`, each field `reason`) are in zh-CN by
default; send `Accept-Language: en` (q-values honoured, e.g. `en-US,en;q=0.9`) for English.
`code`, `type` and `field` are stable and never translated. Answers carry `Content-Language`.
"""


def feed_fetch(client: ServiceClient) -> Fetch:
    """Read grid_service's revocation feed over HTTP (the JWKS host), a page at a time."""

    async def fetch(after: int) -> tuple[list[dict[str, Any]], int]:
        response = await client.get(FEED_PATH, params={"after": after, "limit": 500})
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"吊销清单接口返回 {response.status_code}",
                    f"revocation feed answered {response.status_code}",
                )
            )
        body = response.json()
        return body["items"], int(body["last_id"])

    return fetch


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    configure_logging(
        service=spec.name,
        level=settings.log_level,
        json=settings.json_logs,
        log_file=settings.log_file,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await resolve_database_url(settings, spec.database_name)
        app.state.database_url = url
        app.state.engine = make_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            application_name=spec.name,
            pgbouncer=settings.db_pgbouncer,
        )
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        app.state.migration_head = await asyncio.to_thread(head_revision, spec.alembic_ini)
        client, path = jwks_client(settings)
        app.state.jwks_client = client
        app.state.verifier = JWKSVerifier(
            client,
            path,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.jwks_cache_seconds,
        )
        app.state.revocations = RevocationList(
            feed_fetch(client),
            poll_seconds=settings.revocation_poll_seconds,
            keep_seconds=settings.revocation_keep_seconds,
        )
        if spec.on_startup is not None:
            await spec.on_startup(app)  # grid_service reads its own feed from its database
        if settings.revocation_poll_seconds > 0:
            app.state.revocations.start()
        if TUNE_GC_AFTER_STARTUP:
            tune_gc_for_serving()
        log.info("service_started", port=settings.port)
        try:
            yield
        finally:
            log.info("service_stopping")
            await app.state.revocations.stop()
            if spec.on_shutdown is not None:
                await spec.on_shutdown(app)
            await client.aclose()
            await app.state.engine.dispose()

    app = FastAPI(
        title=spec.title,
        version=spec.version,
        description=spec.description.rstrip() + "\n\n" + LANGUAGE_NOTE,
        lifespan=lifespan,
        openapi_tags=spec.openapi_tags or None,
        responses=problem_responses(400, 401, 403, 404, 422, 500),
    )
    app.state.settings = settings
    app.state.service_name = spec.name
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        service=spec.name,
        max_body_bytes=settings.max_body_bytes,
        large_body_bytes=spec.large_body_bytes,
        large_body_markers=spec.large_body_markers,
        quiet_routes=spec.quiet_routes,
    )
    app.include_router(_ops_router(spec))
    for router in spec.routers:
        app.include_router(router)
    if spec.configure is not None:
        spec.configure(app)
    return app
