"""Who may do what in notify_service: roles of accounts or scopes of platform clients."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from shared.auth import CurrentPrincipal, Principal, Role
from shared.i18n import Text
from shared.problem import Forbidden

SCOPE_EVENTS_WRITE = "events:write"  # case_service's outbox relay
SCOPE_NOTIFICATIONS_WRITE = "notifications:write"  # other platforms sending messages
SCOPE_TEMPLATES_WRITE = "templates:write"


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
