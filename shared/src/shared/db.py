"""Async engine and session helpers.

One request is one transaction: :func:`get_session` opens a session, begins a transaction and
commits it when the path operation returns (``scope="function"``: before the response is sent),
or rolls it back when it raises. Repositories and services ``flush()``, never ``commit()``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import instrumentation
from sqlmodel import SQLModel

#: Constraint names that Alembic can rely on (and that read well in error messages).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_asyncpg_url(url: str) -> str:
    """Normalise ``postgresql://`` / ``postgres://`` URLs to the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


def _unique_statement_name() -> str:
    # Under a transaction pooler one client connection uses many server connections, and a
    # server connection serves many clients: asyncpg's numbered names (__asyncpg_stmt_1__)
    # would collide there ("prepared statement … already exists").
    return f"__asyncpg_{uuid.uuid4().hex}__"


def connect_args(
    *,
    pgbouncer: bool = False,
    statement_timeout_ms: int = 30_000,
    application_name: str = "gridgov",
) -> dict[str, Any]:
    """asyncpg's connect arguments, directly to PostgreSQL or through PgBouncer.

    With ``pgbouncer`` (transaction pooling, PgBouncer before 1.21, which does not track
    prepared statements): no statement is cached on a connection, each prepared statement
    gets a name of its own, and ``statement_timeout`` is not sent as a startup parameter
    (PgBouncer refuses parameters it does not track) — set it on the role instead
    (``ALTER ROLE … SET statement_timeout``, see docs/deploy.md). ``application_name`` and
    ``timezone`` are tracked by PgBouncer and set on whichever server connection is used.
    Nothing else of a session is relied on: locks are ``pg_advisory_xact_lock``, settings
    ``SET LOCAL``."""
    settings = {"application_name": application_name, "timezone": "UTC"}
    if not pgbouncer:
        settings["statement_timeout"] = str(statement_timeout_ms)
    return {"server_settings": settings, **(pgbouncer_args() if pgbouncer else {})}


def pgbouncer_args() -> dict[str, Any]:
    """The connect arguments that make asyncpg safe behind a transaction pooler."""
    return {
        "statement_cache_size": 0,  # asyncpg's own cache
        "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter cache
        "prepared_statement_name_func": _unique_statement_name,
    }


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int = 30_000,
    application_name: str = "gridgov",
    pgbouncer: bool = False,
) -> AsyncEngine:
    """The engine of one service process. ``pgbouncer``: `url` names a PgBouncer in
    transaction mode (``<PREFIX>DB_PGBOUNCER=true``), see :func:`connect_args`."""
    engine = create_async_engine(
        to_asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args=connect_args(
            pgbouncer=pgbouncer,
            statement_timeout_ms=statement_timeout_ms,
            application_name=application_name,
        ),
    )
    sa.event.listen(engine.sync_engine, "checkin", _checked_in)
    sa.event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


#: a pooled connection idle longer than this is pinged before it is handed out
PING_IDLE_SECONDS = 1.0


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """``pool_pre_ping`` pings on *every* checkout: a round trip per transaction, ~4 % of
    case_service's CPU per intake under load. A connection in steady use has just proved
    itself, so only one idle for over ``PING_IDLE_SECONDS`` (the ones a database restart or a
    cut while quiet leaves dead) is pinged; a dead one is replaced before use
    (``DisconnectionError`` from a checkout handler makes the pool try a fresh connection,
    SQLAlchemy's pessimistic disconnect handling). A connection that dies while in steady
    use fails its statement, which invalidates the pool as before; the services' callers
    retry with their Idempotency-Key (tests/test_load.py cuts every connection mid-burst)."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise sa.exc.DisconnectionError() from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a session inside one transaction for the whole request."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def jsonb_column(**kwargs: Any) -> Any:
    """A JSONB column for SQLModel ``Field(sa_column=...)``."""
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.Column(JSONB, **kwargs)


def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's field defaults: plain values, and factories (called per row)."""
    found = _DEFAULTS.get(model)
    if found is None:
        plain: dict[str, Any] = {}
        factories: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            if info.default_factory is not None:
                factories[name] = info.default_factory
            elif not info.is_required():
                plain[name] = info.default
        found = _DEFAULTS[model] = (plain, factories)
    return found


_DEFAULTS: dict[type[SQLModel], tuple[dict[str, Any], dict[str, Any]]] = {}
M = TypeVar("M", bound=SQLModel)


def new_row(model: type[M], **values: Any) -> M:
    """A table model's instance from ``values`` and the model's defaults, as the model's own
    constructor makes it but without its cost: SQLModel's ``__init__`` asks pydantic for
    every default factory's signature on every call (``inspect.signature``; 0.4–0.8 ms for a
    case of 50 columns). The instance is made the way SQLAlchemy makes a loaded row
    (``new_instance``, attributes in ``__dict__``), so it is meant for rows written through
    Core and then attached with ``make_transient_to_detached``, or added to a session
    (``session.add``: the flush inserts it like any new instance, reading the column values
    from ``__dict__``): every column must have a value or a default. Table models skip
    validation in their constructor too."""
    plain, factories = _defaults(model)
    row: M = instrumentation.manager_of_class(model).new_instance()
    state = {**plain, **{k: f() for k, f in factories.items() if k not in values}, **values}
    row.__dict__.update(state)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


class Prepared:
    """A Core statement compiled once for asyncpg and run as driver SQL.

    ``session.execute`` of a cached Core statement still walks the whole statement on every
    call to find its cache key, then builds and converts every parameter; for the intake's
    one write (a dozen CTEs, over a hundred parameters) that walk is most of its cost.
    Compiled once here, a call only puts the parameters in order and converts the few whose
    type needs it (JSON) with the dialect's own bind processors, then sends the SQL through
    the session's connection, in its transaction (``exec_driver_sql``). Rows come back as
    asyncpg decodes them (no ORM, no result processing). SQLAlchemy has no public API for
    this, so it is written here; it uses only public calls (``compile``, ``positiontup``,
    ``dialect_impl``, ``bind_processor``). Expanding parameters (``IN`` of a list) are not
    supported: use ``= ANY(:param)`` with an ``ARRAY`` type instead."""

    def __init__(self, statement: Any) -> None:
        dialect = _DIALECT
        compiled = statement.compile(dialect=dialect)
        if any(b.expanding for b in compiled.binds.values()):
            raise ValueError("Prepared: expanding parameters are not supported")
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.processors: tuple[Any, ...] = tuple(
            compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in self.names
        )
        literals = {n: compiled.binds[n].value for n in self.names}
        self.literals = {n: v for n, v in literals.items() if v is not None}

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = params[name] if name in params else self.literals.get(name)
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out)

    async def run(self, session: AsyncSession, params: dict[str, Any]) -> sa.CursorResult[Any]:
        """Execute in the session's transaction; the result's rows are plain tuples."""
        connection = await session.connection()
        return await connection.exec_driver_sql(self.sql, self.args(params))


_DIALECT = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
