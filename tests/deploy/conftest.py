"""Fixtures of the deployment tests (docker-compose, gateway, images, Kubernetes, docs)."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import load_compose, render_module


@pytest.fixture(scope="session")
def table() -> Any:
    """The gateway's route table, deploy/routes.yaml."""
    return render_module().load()


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml, interpolated with the values of .env.example."""
    return load_compose()
