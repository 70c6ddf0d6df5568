"""Who answers for a case event, asked of grid_service by the relay (outside any transaction).

case_service writes an overdue case or a major incident in the transaction of the change, when
it cannot ask another service who is responsible. The relay, which runs with no transaction
open, fills those recipients in before posting the event: ``supervisor_account_ids`` (the
supervisors and grid leaders whose scope covers the handling level) for overdue cases and lapsed
supervision orders, ``leader_account_ids`` (the dispatchers and supervisors of every level above)
for major incidents, ``department_handler_account_ids`` (the on-duty handlers of every lead and
co-handling department) for a dispatch or reassignment to departments. The answer is stored on
the outbox row, so a retried post sends the same body under the same Idempotency-Key.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.i18n import Text
from shared.oauth import ClientCredentials
from shared.problem import UpstreamError

#: (area paths, roles, match) → account ids
Resolver = Callable[[list[str], tuple[str, ...], str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Need:
    key: str
    roles: tuple[str, ...]
    match: str

    def paths(self, event_area: str | None, payload: dict[str, Any]) -> list[str]:
        """What to ask about: area paths, or department ids for ``match="department"``."""
        if self.match == "department":
            return [d for d in payload.get("department_ids") or [] if d]
        if self.match == "exact":
            return [p for p in payload.get("levels_above") or [] if p]
        path = payload.get("handling_area_path") or event_area
        return [path] if path else []


NEEDS: dict[str, Need] = {
    "case.overdue": Need("supervisor_account_ids", ("supervisor", "grid_leader"), "covering"),
    "case.supervision_lapsed": Need("supervisor_account_ids", ("supervisor",), "covering"),
    "case.major_incident": Need("leader_account_ids", ("dispatcher", "supervisor"), "exact"),
    "case.dispatched": Need(
        "department_handler_account_ids", ("department_handler",), "department"
    ),
    "case.reassigned": Need(
        "department_handler_account_ids", ("department_handler",), "department"
    ),
}


def grid_resolver(credentials: ClientCredentials) -> Resolver:
    async def resolve(paths: list[str], roles: tuple[str, ...], match: str) -> list[str]:
        where = "department_id" if match == "department" else "area_path"
        response = await credentials.request(
            "GET",
            "/api/v1/recipients/responsible",
            params={where: paths, "roles": list(roles), "match": match},
        )
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对责任人查询返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to responsible",
                ),
                code="responsible_unavailable",
            )
        return [str(uuid.UUID(i)) for i in response.json()["account_ids"]]

    return resolve
