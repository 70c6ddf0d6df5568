"""`python -m grid_service migrate|load-demo|serve`."""

from grid_service.config import ALEMBIC_INI, DATABASE_NAME, get_settings
from grid_service.demo import load_demo
from shared.cli import main

if __name__ == "__main__":
    main(
        prog="grid_service",
        settings_factory=get_settings,
        app_factory_path="grid_service.main:create_app",
        alembic_ini=ALEMBIC_INI,
        database_name=DATABASE_NAME,
        demo_loader=load_demo,
    )
