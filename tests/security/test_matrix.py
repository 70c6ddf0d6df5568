"""Who may call what (docs/security.md): the operation × role table observed on the running
system equals the reviewed ``expected_matrix.csv``. Any change of who may call what fails here
until the table is regenerated (``uv run --frozen python -m tests.security.matrix --write``)
and its diff reviewed."""

from __future__ import annotations

from tests.security import matrix
from tests.system import System


async def test_who_may_call_what_is_the_reviewed_table(security_system: System) -> None:
    observed = await matrix.observe(security_system)
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
