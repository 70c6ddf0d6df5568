"""`python -m case_service migrate|load-demo|serve`."""

from case_service.config import ALEMBIC_INI, DATABASE_NAME, get_settings
from case_service.demo import load_demo
from shared.cli import main

if __name__ == "__main__":
    main(
        prog="case_service",
        settings_factory=get_settings,
        app_factory_path="case_service.main:create_app",
        alembic_ini=ALEMBIC_INI,
        database_name=DATABASE_NAME,
        demo_loader=load_demo,
    )
