"""Who sees which case and who may take which action (scope comes from the token).

* resident — own cases (``reporter_account_id``), public timeline entries only
* grid_worker — cases in their grids (area subtree) and cases assigned to them
* grid_leader, dispatcher, supervisor — cases in their area subtrees
* department_handler — cases assigned to one of their departments
* platform — cases it pushed in (``source`` = its client id)
* admin — everything

Out of scope is indistinguishable from absent (404), so existence is never confirmed.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import col

from case_service.cases.lifecycle import Action, Status, next_status
from case_service.cases.models import Case, CaseAssignment
from shared.auth import Principal, Role

AREA_ROLES = (Role.grid_worker, Role.grid_leader, Role.dispatcher, Role.supervisor)
DISPATCH_ROLES = (Role.dispatcher, Role.grid_leader, Role.admin)


class Scoped(Protocol):
    """What :func:`can_see` reads of a case (a ``Case`` or a ``repository.NearbyCase``)."""

    @property
    def area_path(self) -> str: ...
    @property
    def reporter_account_id(self) -> str | None: ...
    @property
    def assignee_account_ids(self) -> list[str]: ...
    @property
    def department_ids(self) -> list[str]: ...
    @property
    def source(self) -> str | None: ...


def _case_columns() -> Any:
    return Case.__table__.c  # type: ignore[attr-defined]


def covers(principal: Principal, path: str | None) -> bool:
    return path is not None and principal.covers_area(path)


def subtree(column: Any, path: str) -> sa.ColumnElement[bool]:
    """``column`` is ``path`` or lies below it (index ``ix_case_area_path_c_created_at``)."""
    c = sa.collate(column, "C")
    return sa.and_(c >= path, c < path + "/")


def platform_source(principal: Principal) -> str:
    return principal.client_id or principal.subject


def can_see(principal: Principal, case: Scoped) -> bool:
    if principal.has_role(Role.admin):
        return True
    if principal.has_role(Role.resident) and case.reporter_account_id == principal.subject:
        return True
    if principal.has_role(*AREA_ROLES) and covers(principal, case.area_path):
        return True
    if principal.has_role(Role.grid_worker) and principal.subject in case.assignee_account_ids:
        return True
    if principal.has_role(Role.department_handler) and set(principal.department_ids) & set(
        case.department_ids
    ):
        return True
    return principal.has_role(Role.platform) and case.source == platform_source(principal)


def scope_clause(principal: Principal) -> sa.ColumnElement[bool] | None:
    """The SQL twin of :func:`can_see`; ``None`` means unrestricted."""
    if principal.has_role(Role.admin):
        return None
    conds: list[sa.ColumnElement[bool]] = []
    if principal.has_role(Role.resident):
        conds.append(col(Case.reporter_account_id) == principal.subject)
    if principal.has_role(*AREA_ROLES):
        conds.extend(subtree(col(Case.area_path), p) for p in principal.area_paths)
    if principal.has_role(Role.grid_worker):
        conds.append(col(Case.assignee_account_ids).contains([principal.subject]))
    if principal.has_role(Role.department_handler) and principal.department_ids:
        conds.append(_case_columns().department_ids.overlap(list(principal.department_ids)))
    if principal.has_role(Role.platform):
        conds.append(col(Case.source) == platform_source(principal))
    if not conds:
        return sa.false()
    return sa.or_(*conds)


def is_handler(principal: Principal, assignments: list[CaseAssignment]) -> bool:
    return handler_assignment(principal, assignments) is not None


def handler_assignment(
    principal: Principal, assignments: list[CaseAssignment]
) -> CaseAssignment | None:
    """The active assignment the principal works under (their own, or their department's)."""
    for a in assignments:
        if a.state != "active":
            continue
        if a.account_id is not None and a.account_id == principal.subject:
            return a
        if (
            a.department_id is not None
            and principal.has_role(Role.department_handler)
            and a.department_id in principal.department_ids
        ):
            return a
    return None


def sees_reporter(principal: Principal, case: Case, assignments: list[CaseAssignment]) -> bool:
    """Reporter identity and phone in clear: the reporter, dispatchers and admins of the case,
    and its current handlers (who must call back). Anonymous reports: the reporter only."""
    if case.reporter_account_id is not None and case.reporter_account_id == principal.subject:
        return True
    if case.reported_by_account_id == principal.subject:
        return True  # who typed it in (代办) has seen it already
    if case.anonymous:
        return False
    if principal.has_role(Role.admin):
        return True
    if principal.has_role(Role.dispatcher) and covers(principal, case.area_path):
        return True
    return is_handler(principal, assignments)


def may_take(
    principal: Principal, case: Case, action: Action, assignments: list[CaseAssignment]
) -> bool:
    """Whether the principal's role and scope allow ``action`` (the state is checked apart)."""
    admin = principal.has_role(Role.admin)
    at_level = principal.has_role(*DISPATCH_ROLES) and (
        admin or covers(principal, case.handling_area_path)
    )
    reporter = (
        principal.has_role(Role.resident)
        and case.reporter_account_id is not None
        and case.reporter_account_id == principal.subject
    )
    if action in {Action.accept, Action.reject, Action.void, Action.dispatch, Action.reassign}:
        return at_level
    if action in {Action.merge, Action.locate}:
        return at_level
    if action in {Action.claim, Action.return_, Action.resolve}:
        return is_handler(principal, assignments)
    if action is Action.escalate:
        return is_handler(principal, assignments) or at_level
    if action in {Action.verify, Action.rework}:
        return admin or (
            principal.has_role(Role.grid_worker, Role.grid_leader, Role.dispatcher)
            and covers(principal, case.area_path)
        )
    if action in {Action.suspend, Action.resume}:
        return admin or (
            principal.has_role(Role.dispatcher, Role.grid_leader, Role.supervisor)
            and covers(principal, case.area_path)
        )
    if action is Action.reopen:
        # staff only: a dispatcher deciding the reporter's reopen request, or reopening on
        # their own authority; the reporter asks through POST /cases/{id}/reopen-requests
        return at_level
    if action is Action.rate:
        return reporter
    return False


STAFF = (
    Role.grid_worker,
    Role.grid_leader,
    Role.dispatcher,
    Role.department_handler,
    Role.supervisor,
    Role.admin,
)
#: the roles that may take an action on some case at all — the role part of :func:`may_take`,
#: checked before the body is read (a resident posting ``dispatch`` gets 403, never 422)
ACTION_ROLES: dict[Action, tuple[str, ...]] = {
    Action.accept: DISPATCH_ROLES,
    Action.reject: DISPATCH_ROLES,
    Action.void: DISPATCH_ROLES,
    Action.dispatch: DISPATCH_ROLES,
    Action.reassign: DISPATCH_ROLES,
    Action.merge: DISPATCH_ROLES,
    Action.reopen: DISPATCH_ROLES,
    Action.locate: DISPATCH_ROLES,
    # an assignee (a person, or a department's handler); escalate also the level's dispatcher
    Action.claim: STAFF,
    Action.return_: STAFF,
    Action.resolve: STAFF,
    Action.escalate: STAFF,
    Action.verify: (Role.admin, Role.grid_worker, Role.grid_leader, Role.dispatcher),
    Action.rework: (Role.admin, Role.grid_worker, Role.grid_leader, Role.dispatcher),
    Action.suspend: (Role.admin, Role.dispatcher, Role.grid_leader, Role.supervisor),
    Action.resume: (Role.admin, Role.dispatcher, Role.grid_leader, Role.supervisor),
    Action.rate: (Role.resident,),
}


def allowed_actions(
    principal: Principal, case: Case, assignments: list[CaseAssignment]
) -> list[str]:
    """What this principal could do to the case now (for clients to show buttons)."""
    status = Status(case.status)
    return [
        a.value
        for a in Action
        if next_status(a, status) is not None and may_take(principal, case, a, assignments)
    ]
