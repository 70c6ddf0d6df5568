"""Who may do what in notify_service: roles of accounts or scopes of platform clients.

People (staff accounts, admins included) act inside their area scope: they address, and read
the messages of, only accounts that belong to an area at or below one of their own (an
account's areas come from grid_service, cached — see ``clients.grid``), and never a raw phone
number or openid. System clients (tokens from the client-credentials grant: ``cid`` claim,
role ``platform``) are not bound to areas.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from notify_service.clients.grid import GridClient
from shared.auth import CurrentPrincipal, Principal, Role
from shared.i18n import Text
from shared.problem import Forbidden

SCOPE_EVENTS_WRITE = "events:write"  # case_service's outbox relay
SCOPE_NOTIFICATIONS_WRITE = "notifications:write"  # other platforms sending messages
SCOPE_TEMPLATES_WRITE = "templates:write"


def is_system_client(principal: Principal) -> bool:
    """A platform or service client (client-credentials token), not a person."""
    return principal.client_id is not None or principal.has_role(Role.platform)


def covers_any(principal: Principal, paths: tuple[str, ...]) -> bool:
    """One of ``paths`` lies at or below one of the principal's areas."""
    return any(principal.covers_area(p) for p in paths)


async def _grid(request: Request) -> GridClient:
    grid: GridClient = request.app.state.delivery.grid
    return grid


Grid = Annotated[GridClient, Depends(_grid)]


def allow(*, roles: tuple[str, ...] = (), scopes: tuple[str, ...] = ()) -> Any:
    """Dependency: the caller holds one of ``roles`` or one of ``scopes`` (403 otherwise)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.has_role(*roles) or principal.scopes.intersection(scopes):
            return principal
        wanted = [f"role {r}" for r in roles] + [f"scope {s}" for s in scopes]
        raise Forbidden(
            Text(
                f"此操作需要以下角色之一：{'、'.join(wanted)}",
                f"This action needs one of: {', '.join(wanted)}",
            ),
            code="not_allowed",
        )

    return Depends(dependency)


TemplateAdmin = Annotated[Principal, allow(roles=(Role.admin,), scopes=(SCOPE_TEMPLATES_WRITE,))]
Sender = Annotated[
    Principal,
    allow(
        roles=(Role.admin, Role.dispatcher, Role.supervisor, Role.grid_leader),
        scopes=(SCOPE_NOTIFICATIONS_WRITE,),
    ),
]
Broadcaster = Annotated[
    Principal,
    allow(
        roles=(Role.admin, Role.supervisor, Role.grid_leader),
        scopes=(SCOPE_NOTIFICATIONS_WRITE,),
    ),
]
EventWriter = Annotated[Principal, allow(scopes=(SCOPE_EVENTS_WRITE,))]
Staff = Annotated[
    Principal,
    allow(
        roles=(Role.admin, Role.dispatcher, Role.supervisor, Role.grid_leader, Role.platform),
        scopes=(SCOPE_NOTIFICATIONS_WRITE, SCOPE_EVENTS_WRITE),
    ),
]
