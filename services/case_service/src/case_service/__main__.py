"""`python -m case_service migrate|load-demo|serve|rebuild-stats-summary`."""

from case_service.config import ALEMBIC_INI, DATABASE_NAME, get_settings
from case_service.demo import load_demo
from case_service.stats.rollup import rebuild_summary
from shared.cli import main
from shared.db import make_engine, make_sessionmaker
from shared.settings import BaseServiceSettings


async def rebuild_stats_summary(url: str, settings: BaseServiceSettings) -> None:
    engine = make_engine(url, pgbouncer=settings.db_pgbouncer)
    try:
        await rebuild_summary(make_sessionmaker(engine))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main(
        prog="case_service",
        settings_factory=get_settings,
        app_factory_path="case_service.main:create_app",
        alembic_ini=ALEMBIC_INI,
        database_name=DATABASE_NAME,
        demo_loader=load_demo,
        maintenance={
            "rebuild-stats-summary": (
                "derive the statistics summary from the facts again (run once after a rolling"
                " upgrade that adds a summary migration; see docs/deploy.md)",
                rebuild_stats_summary,
            )
        },
    )
