"""Settings refuse what is unsafe outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.logging import redact
from shared.settings import BaseServiceSettings


class Demo(BaseServiceSettings):
    pass


def test_development_defaults_need_nothing() -> None:
    settings = Demo()
    assert settings.database_url is None
    assert settings.json_logs is False


def test_production_refuses_embedded_database_and_local_jwks() -> None:
    with pytest.raises(ValidationError) as info:
        Demo(environment="production")
    text = str(info.value)
    assert "database_url must be set" in text
    assert "jwks_url" in text


def test_production_with_real_values_is_accepted() -> None:
    settings = Demo(
        environment="production",
        database_url="postgresql+asyncpg://u:p@db:5432/x",
        jwks_url="http://grid_service:8002/.well-known/jwks.json",
    )
    assert settings.json_logs is True


def test_non_postgres_urls_and_bad_levels_are_refused() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Demo(database_url="sqlite:///x.db")
    with pytest.raises(ValidationError, match="log_level"):
        Demo(log_level="chatty")


def test_logs_redact_personal_data_and_secrets() -> None:
    event = {
        "event": "x",
        "phone": "13812345678",
        "id_number": "1101",
        "access_token": "t",
        "count": 3,
    }
    out = redact(None, "info", event)
    assert out == {
        "event": "x",
        "phone": "[redacted]",
        "id_number": "[redacted]",
        "access_token": "[redacted]",
        "count": 3,
    }
