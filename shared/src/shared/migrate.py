"""Alembic helpers shared by every service's ``migrations/env.py`` and by the apps.

Each service's ``env.py`` is two lines: import its models, call :func:`run_env`. Migrations run
on the async engine. ``upgrade_head`` is synchronous (Alembic's API); from async code use
``await asyncio.to_thread(upgrade_head, ...)``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import pgbouncer_args, to_asyncpg_url


def alembic_config(ini_path: Path, url: str | None = None) -> Config:
    cfg = Config(str(ini_path))
    cfg.set_main_option("script_location", str(ini_path.parent / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", to_asyncpg_url(url).replace("%", "%%"))
    return cfg


def upgrade_head(ini_path: Path, url: str, *, pgbouncer: bool = False) -> None:
    """Upgrade to every head (a service may briefly carry parallel branches). ``pgbouncer``:
    `url` names a PgBouncer in transaction mode (see shared.db.connect_args)."""
    cfg = alembic_config(ini_path, url)
    cfg.attributes["pgbouncer"] = pgbouncer
    command.upgrade(cfg, "heads")


def head_revision(ini_path: Path) -> str | None:
    """The head revision(s) the code expects, comma-separated when there are branches."""
    heads = ScriptDirectory.from_config(alembic_config(ini_path)).get_heads()
    return ",".join(sorted(heads)) or None


def _run_sync(connection: Connection, target_metadata: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(config: Config, target_metadata: Any) -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
        connect_args=pgbouncer_args() if config.attributes.get("pgbouncer") else {},
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, target_metadata)
    await engine.dispose()


def run_env(target_metadata: Any) -> None:
    """Body of every ``env.py``."""
    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(config, target_metadata))
