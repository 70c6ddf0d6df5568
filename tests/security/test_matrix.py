"""Who may call what (docs/security.md): the operation × role table observed on the running
system equals the reviewed ``expected_matrix.csv``. Any change of who may call what fails here
until the table is regenerated (``uv run --frozen python -m tests.security.matrix --write``)
and its diff reviewed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.security import matrix
from tests.system import System, start_system, stop_system


@pytest_asyncio.fixture(scope="module")
async def own_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """A system of its own: the matrix calls every operation as every role (an admin rotates
    the signing key, for one), which the shared system's other tests must not see."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    running = await start_system(tmp, demo=True)
    yield running
    await stop_system(running)


async def test_who_may_call_what_is_the_reviewed_table(own_system: System) -> None:
    observed = await matrix.observe(own_system)
    expected = matrix.read_expected()
    diff = matrix.differences(expected, observed)
    assert not diff, (
        f"{len(diff)} rows differ from tests/security/expected_matrix.csv (regenerate with "
        "`uv run --frozen python -m tests.security.matrix --write` if intended):\n"
        + "\n".join(diff)
    )
    roles = {r["role"] for r in observed}
    assert roles == set(matrix.ROLES)
    services = {r["service"] for r in observed}
    assert services == set(matrix.SERVICES)
