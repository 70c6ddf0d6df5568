"""Who may manage what: an admin only inside the area paths of their token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from shared.auth import Principal, Role, ensure_roles, require, require_roles
from shared.i18n import Text
from shared.problem import Forbidden

AdminDep = Annotated[Principal, require_roles(Role.admin)]
STAFF_ROLES = Role.all - {Role.resident}


def is_resident(principal: Principal) -> bool:
    """A person without a staff role (a resident's token, or one that names no role): sees
    staff only as the public contact card shows them."""
    return principal.client_id is None and not principal.roles & STAFF_ROLES


def ensure_covers(principal: Principal, paths: Iterable[str], *, what: str = "area") -> None:
    """403 ``outside_scope`` unless every path lies inside the principal's areas."""
    outside = sorted({p for p in paths if not principal.covers_area(p)})
    if outside:
        raise Forbidden(
            Text(
                f"此{what}不在您的辖区内：{'、'.join(outside)}",
                f"This {what} lies outside your areas: {', '.join(outside)}",
            ),
            code="outside_scope",
        )


def ensure_scope(principal: Principal, scope: str) -> None:
    """403 ``missing_scope`` unless the token carries ``scope`` (platform clients)."""
    if scope not in principal.scopes:
        raise Forbidden(
            Text(f"此调用需要权限范围 {scope}", f"This call needs the scope {scope}"),
            code="missing_scope",
        )


def ensure_top_level(principal: Principal) -> None:
    """403 unless the admin's areas include a root of the tree (system-wide settings such as
    signing keys and platform clients are not for a street's admin)."""
    if not any("." not in path for path in principal.area_paths):
        raise Forbidden(
            Text("只有整棵区域树的管理员可以这样做", "Only an admin of a whole tree may do this"),
            code="outside_scope",
        )


def _top_admin(principal: Principal) -> None:
    ensure_roles(principal, Role.admin)
    ensure_top_level(principal)


#: an admin of a whole tree, checked before the body is validated (403 before 422)
TopAdminDep = Annotated[Principal, require(_top_admin)]
