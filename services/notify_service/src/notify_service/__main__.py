"""`python -m notify_service migrate|load-demo|serve`."""

from notify_service.config import ALEMBIC_INI, DATABASE_NAME, get_settings
from notify_service.demo import load_demo
from shared.cli import main

if __name__ == "__main__":
    main(
        prog="notify_service",
        settings_factory=get_settings,
        app_factory_path="notify_service.main:create_app",
        alembic_ini=ALEMBIC_INI,
        database_name=DATABASE_NAME,
        demo_loader=load_demo,
    )
