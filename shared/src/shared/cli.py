"""Command line shared by the services: ``python -m <service> migrate|serve|load-demo``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

import shared.app
from shared.app import resolve_database_url
from shared.db import make_engine, make_sessionmaker
from shared.migrate import upgrade_head
from shared.settings import BaseServiceSettings, Environment

DemoLoader = Callable[[AsyncSession, BaseServiceSettings], Awaitable[None]]
Maintenance = Callable[[str, BaseServiceSettings], Coroutine[Any, Any, None]]


def _database_url(settings: BaseServiceSettings, database_name: str) -> str:
    return asyncio.run(resolve_database_url(settings, database_name))


async def _load_demo(url: str, loader: DemoLoader, settings: BaseServiceSettings) -> None:
    engine = make_engine(url, pgbouncer=settings.db_pgbouncer)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await loader(session, settings)
    finally:
        await engine.dispose()


GRACEFUL_SHUTDOWN_SECONDS = 20


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def main(
    *,
    prog: str,
    settings_factory: Callable[[], BaseServiceSettings],
    app_factory_path: str,
    alembic_ini: Path,
    database_name: str,
    demo_loader: DemoLoader | None = None,
    maintenance: dict[str, tuple[str, Maintenance]] | None = None,
) -> None:
    """``maintenance``: the service's own one-shot commands, name → (help, coroutine taking the
    database URL and the settings)."""
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade this service's database to the newest migration")
    sub.add_parser("load-demo", help="load the demo dataset (idempotent; refused in production)")
    for name, (text, _) in (maintenance or {}).items():
        sub.add_parser(name, help=text)
    serve = sub.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    args = parser.parse_args()
    settings = settings_factory()

    if args.command == "migrate":
        upgrade_head(
            alembic_ini, _database_url(settings, database_name), pgbouncer=settings.db_pgbouncer
        )
    elif args.command == "load-demo":
        if settings.environment is Environment.production:
            raise SystemExit("the demo dataset is never loaded in production")
        if demo_loader is not None:
            asyncio.run(_load_demo(_database_url(settings, database_name), demo_loader, settings))
    elif maintenance and args.command in maintenance:
        asyncio.run(maintenance[args.command][1](_database_url(settings, database_name), settings))
    elif args.command == "serve":
        # On SIGTERM uvicorn stops accepting connections, lets requests in flight finish (up to
        # GRACEFUL_SHUTDOWN_SECONDS), runs the lifespan shutdown (workers finish or hand back
        # what they claimed) and then raises the signal again under the handler that was in
        # place before it started. With the default handler the process would die "killed by
        # SIGTERM" (143) after a clean shutdown, which orchestrators count as a failure; this
        # handler exits 0 instead (and also stops a process told to go while still starting).
        signal.signal(signal.SIGTERM, _exit_cleanly)
        shared.app.TUNE_GC_AFTER_STARTUP = True  # this process serves one app: see the docstring
        uvicorn.run(
            app_factory_path,
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_config=None,
            proxy_headers=True,
        )
