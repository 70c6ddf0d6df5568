"""Other people's reports like a resident's own: counted, never shown, and supported (附议).

A resident who reports a problem someone else reported already learns only that a similar
report exists nearby and how many residents support it (:class:`SimilarNearby`) — not its id,
number, title, area or reporter. They may add their support to it through their *own* case
(``POST /cases/{own id}/similar/support``): the server finds the similar report again, so the
caller never holds, and cannot try, another case's id (BOLA-safe by construction).

Which cases count as similar to a resident's case X: open cases of X's category within the
category's duplicate radius of X's point, filed within its duplicate window before X (the
rule staff see as ``possible_duplicates``), minus the caller's own reports and anonymous
reports (a report its reporter wanted kept hidden is not pointed to) — and none at all in a
sensitive category, one closed to the public feed (``public_disclosure: none``, of the 小类 or
its 大类). The one supported is the earliest of them — the case the others are usually merged
into.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases import access, repository
from case_service.cases.models import Case, CaseSupport
from case_service.cases.schemas import SimilarNearby, SupportResult
from case_service.categories import repository as categories
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Forbidden, NotFound

#: How many similar reports are looked at (and counted) at most.
SIMILAR_LIMIT = 50

STAFF_ROLES = (
    Role.grid_worker,
    Role.grid_leader,
    Role.dispatcher,
    Role.department_handler,
    Role.supervisor,
    Role.admin,
)


def resident_only(principal: Principal) -> bool:
    return principal.has_role(Role.resident) and not principal.has_role(*STAFF_ROLES)


def support_url(own_case_id: uuid.UUID) -> str:
    return f"/api/v1/cases/{own_case_id}/similar/support"


async def similar_cases(
    session: AsyncSession,
    principal: Principal,
    own: Case,
    *,
    nearby: list[repository.NearbyCase] | None = None,
    closed: bool | None = None,
) -> list[repository.NearbyCase]:
    """Other people's open, non-anonymous reports like ``own``, earliest first.

    The intake, which has read them already, passes ``nearby`` (:func:`nearby_for`'s rows)
    and ``closed`` (:func:`closed_to_the_public` of the category)."""
    if own.lat is None or own.lng is None:
        return []
    if closed is None:
        closed = await _closed_to_the_public(session, own.category_code)
    if closed:
        return []
    if nearby is None:
        category = await categories.get_version(session, own.category_id)
        radius = category.duplicate_radius_m if category else 50
        window = category.duplicate_window_hours if category else 72
        nearby = await repository.find_duplicates(
            session,
            category_code=own.category_code,
            lat=own.lat,
            lng=own.lng,
            radius_m=radius,
            since=own.created_at - timedelta(hours=window),
            exclude_id=own.id,
            limit=SIMILAR_LIMIT,
        )
    others = [
        c
        for c in nearby
        if c.id != own.id
        and c.reporter_account_id != principal.subject
        and c.reported_by_account_id != principal.subject
        and not c.anonymous
    ]
    return sorted(others, key=lambda c: (c.created_at, c.id))


def closed_to_the_public(
    disclosure: str | None, parent_disclosure: str | None, *, top: bool
) -> bool:
    """:func:`_closed_to_the_public` from the category's ``public_disclosure`` and its 大类's
    (``top``: the category is itself a 大类)."""
    if disclosure is None or disclosure == "none":
        return True
    if top:
        return False
    return parent_disclosure is None or parent_disclosure == "none"


async def _closed_to_the_public(session: AsyncSession, code: str) -> bool:
    """The sensitive categories — those the public feed does not show (``public_disclosure``
    ``none``, of the 小类 or of its 大类: disputes between persons, crime tips, petitions,
    welfare …): a resident is not told that someone else reported one nearby."""
    category = await categories.get_current(session, code)
    if category is None or category.public_disclosure == "none":
        return True
    if category.parent_code is None:
        return False
    parent = await categories.get_current(session, category.parent_code)
    return parent is None or parent.public_disclosure == "none"


async def _supports(session: AsyncSession, case_id: uuid.UUID, account_id: str) -> bool:
    found = await session.execute(
        sa.select(col(CaseSupport.id)).where(
            col(CaseSupport.case_id) == case_id, col(CaseSupport.account_id) == account_id
        )
    )
    return found.first() is not None


async def similar_nearby(
    session: AsyncSession,
    principal: Principal,
    own: Case,
    *,
    nearby: list[repository.NearbyCase] | None = None,
    closed: bool | None = None,
) -> SimilarNearby | None:
    """The counts a resident may see for their case ``own``; None when nothing is similar."""
    others = await similar_cases(session, principal, own, nearby=nearby, closed=closed)
    if not others:
        return None
    target = others[0]
    return SimilarNearby(
        count=len(others),
        support_count=target.support_count,
        supported=await _supports(session, target.id, principal.subject),
        support_url=support_url(own.id),
    )


def _not_found() -> NotFound:
    return NotFound(Text("没有这个案件", "No such case"), code="case_not_found")


async def own_case(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
    """The caller's own report (anything else is 404, as if absent)."""
    case = await repository.get(session, case_id)
    if (
        case is None
        or case.reporter_account_id is None
        or case.reporter_account_id != principal.subject
        or not access.can_see(principal, case)
    ):
        raise _not_found()
    return case


async def add_support(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> SupportResult:
    """Add the caller's support to the similar report near their case ``case_id``.

    Idempotent per account: the unique constraint ``uq_case_support`` makes a repeated (or a
    concurrent) support a no-op, and the count moves only when a row was written. The case
    supported keeps its version (a support is not a change of the case that staff act on).
    """
    if not resident_only(principal):
        raise Forbidden(
            Text("只有群众可以附议", "Only residents add their support (附议)"),
            code="support_residents_only",
        )
    own = await own_case(session, principal, case_id)
    others = await similar_cases(session, principal, own)
    if not others:
        raise NotFound(
            Text("附近没有可附议的类似诉求", "There is no similar report nearby to support"),
            code="no_similar_case",
        )
    target = others[0]
    inserted = (
        await session.execute(
            insert(CaseSupport)
            .values(
                id=uuid.uuid4(),
                case_id=target.id,
                account_id=principal.subject,
                via_case_id=own.id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(constraint="uq_case_support")
            .returning(col(CaseSupport.id))
        )
    ).first()
    table = Case.__table__  # type: ignore[attr-defined]
    if inserted is not None:
        count = (
            await session.execute(
                sa.update(table)
                .where(table.c.id == target.id)
                .values(support_count=table.c.support_count + 1)
                .returning(table.c.support_count)
            )
        ).scalar_one()
    else:
        count = (
            await session.execute(sa.select(table.c.support_count).where(table.c.id == target.id))
        ).scalar_one()
    return SupportResult(added=inserted is not None, support_count=int(count))
