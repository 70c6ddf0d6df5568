"""Settings refuse what is unsafe in production and nonsense anywhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from grid_service.config import Settings

DB = "postgresql+asyncpg://grid@db/gridgov_grid"


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(environment="production", database_url=DB, jwks_url="https://grid.example/jwks")
    message = str(caught.value)
    assert "signing_key_secret" in message
    assert "wechat_secret" in message


def test_production_refuses_cheap_password_hashes() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            environment="production",
            database_url=DB,
            jwks_url="https://grid.example/jwks",
            signing_key_secret="a-long-random-production-secret",
            wechat_secret="real-secret",
            argon2_time_cost=1,
        )
    assert "argon2" in str(caught.value)


def test_levels_must_be_ordered_and_households_a_range() -> None:
    assert (
        Settings(area_levels=["district", "street", "community", "grid"]).area_levels[0]
        == "district"
    )
    with pytest.raises(ValidationError):
        Settings(area_levels=["grid", "street"])
    with pytest.raises(ValidationError):
        Settings(grid_households_min=900, grid_households_max=500)
