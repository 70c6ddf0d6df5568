"""Members: AB岗 (primary and backup), away marking, who answers now, contact cards."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.accounts.models import Account
from grid_service.areas import repository as areas_repository
from grid_service.areas.models import MEMBERS_VERSION_ID, Area
from grid_service.members import repository
from grid_service.members.holders import Holder
from grid_service.members.models import POST_ORDER, Member, Post
from grid_service.members.schemas import (
    POST_TITLES,
    ContactCardEntry,
    MemberAway,
    MemberCard,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from grid_service.phones import mask_phone
from shared.contracts.grids import ResponsiblePerson
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed

M = TypeVar("M", bound=Holder)


def to_read(member: Member, now: datetime | None = None) -> MemberRead:
    return MemberRead(
        id=member.id,
        area_id=member.area_id,
        area_path=member.area_path,
        post=Post(member.post),
        name=member.name,
        phone_masked=mask_phone(member.phone),
        duties=member.duties,
        account_id=member.account_id,
        public_consent=member.public_consent,
        backup_for_id=member.backup_for_id,
        away=member.is_away(now or utcnow()),
        away_since=member.away_since,
        away_until=member.away_until,
        away_reason=member.away_reason,
        created_at=member.created_at,
    )


def to_card(member: Member) -> MemberCard:
    """The contact-card view of a member who consented to be published."""
    assert member.public_consent
    return MemberCard(
        id=member.id,
        area_id=member.area_id,
        post=Post(member.post),
        post_title=POST_TITLES[Post(member.post)],
        name=member.name,
        duties=member.duties,
        phone=member.phone,
        phone_is_masked=False,
    )


async def get_published_member(session: AsyncSession, member_id: uuid.UUID) -> Member:
    """A member as residents may see it: one who consented to the contact card. Any other
    answers 404, as an unknown id does."""
    member = await repository.get(session, member_id)
    if member is None or not member.public_consent:
        raise NotFound(
            Text(f"没有成员 {member_id}", f"No member {member_id}"), code="member_not_found"
        )
    return member


async def get_member(session: AsyncSession, member_id: uuid.UUID) -> Member:
    member = await repository.get(session, member_id)
    if member is None:
        raise NotFound(
            Text(f"没有成员 {member_id}", f"No member {member_id}"), code="member_not_found"
        )
    return member


def _invalid(field: str, reason: Text, type_: str = "invalid") -> ValidationFailed:
    return ValidationFailed(
        Text(f"{field}：{reason.zh}", f"{field}: {reason.en}"),
        code="invalid_member",
        errors=[FieldProblem(field=field, reason=reason, type=type_)],
    )


async def _check_account(session: AsyncSession, account_id: uuid.UUID | None) -> None:
    if account_id is not None and await session.get(Account, account_id) is None:
        raise _invalid("account_id", Text("没有这个账号", "no such account"), "not_found")


async def create_member(session: AsyncSession, *, body: MemberCreate, area: Area) -> Member:
    await _check_account(session, body.account_id)
    if body.backup_for_id is not None:
        primary = await repository.get(session, body.backup_for_id)
        if primary is None:
            raise _invalid("backup_for_id", Text("没有这个成员", "no such member"), "not_found")
        if primary.backup_for_id is not None:
            raise _invalid(
                "backup_for_id",
                Text("B 岗本身不能再有 B 岗", "a backup cannot have a backup of its own"),
            )
        if primary.area_id != body.area_id or primary.post != body.post.value:
            raise _invalid(
                "backup_for_id",
                Text(
                    "B 岗必须在同一区域担任同一岗位",
                    "the backup must hold the same post in the same area",
                ),
            )
    member = Member(
        area_id=area.id,
        area_path=area.path,
        post=body.post.value,
        name=body.name,
        phone=body.phone,
        duties=body.duties,
        account_id=body.account_id,
        public_consent=body.public_consent,
        backup_for_id=body.backup_for_id,
    )
    session.add(member)
    await session.flush()
    await _changed(session)
    return member


async def _changed(session: AsyncSession) -> None:
    """Tell every replica's locator to reload who holds which post."""
    await areas_repository.bump_version(session, MEMBERS_VERSION_ID)


async def update_member(session: AsyncSession, *, member: Member, body: MemberUpdate) -> Member:
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "public_consent"):
        if name in changes and changes[name] is None:
            raise _invalid(name, Text("不能为空", "cannot be null"), "null")
    if "account_id" in changes:
        await _check_account(session, body.account_id)
    for key, value in changes.items():
        setattr(member, key, value)
    session.add(member)
    await session.flush()
    await _changed(session)
    return member


async def mark_away(session: AsyncSession, *, member: Member, body: MemberAway) -> Member:
    since = body.since or utcnow()
    if body.until is not None and body.until <= since:
        raise _invalid("until", Text("必须晚于开始时间（since）", "must be after since"))
    member.away_since, member.away_until, member.away_reason = since, body.until, body.reason
    session.add(member)
    await session.flush()
    await _changed(session)
    return member


async def mark_back(session: AsyncSession, *, member: Member) -> Member:
    member.away_since = member.away_until = member.away_reason = None
    session.add(member)
    await session.flush()
    await _changed(session)
    return member


async def delete_member(session: AsyncSession, *, member: Member) -> None:
    if await repository.has_backups(session, member.id):
        raise Conflict(
            Text("请先移除或改派该成员的 B 岗", "Remove or reassign this member's backup first"),
            code="member_has_backup",
        )
    await session.delete(member)
    await session.flush()
    await _changed(session)


def answering(members: Sequence[M], now: datetime) -> list[tuple[M, bool]]:
    """Who answers for each post now: each primary that is present, else its first present
    backup (flagged ``True``). Ordered by post, then seniority."""
    backups: dict[uuid.UUID, list[M]] = {}
    for m in members:
        if m.backup_for_id is not None:
            backups.setdefault(m.backup_for_id, []).append(m)
    out: list[tuple[M, bool]] = []
    for m in members:
        if m.backup_for_id is not None:
            continue
        if not m.is_away(now):
            out.append((m, False))
            continue
        stand_in = next((b for b in backups.get(m.id, []) if not b.is_away(now)), None)
        if stand_in is not None:
            out.append((stand_in, True))
    out.sort(key=lambda pair: (POST_ORDER[Post(pair[0].post)], pair[0].created_at))
    return out


def responsible_people(pairs: Sequence[tuple[Holder, bool]]) -> list[ResponsiblePerson]:
    return [
        ResponsiblePerson(
            post=m.post,
            member_id=m.id,
            account_id=m.account_id,
            name=m.name,
            phone_masked=mask_phone(m.phone),
            phone=m.phone if m.public_consent else None,
            is_backup=is_backup,
        )
        for m, is_backup in pairs
    ]


def card_entries(pairs: Sequence[tuple[Member, bool]]) -> list[ContactCardEntry]:
    return [
        ContactCardEntry(
            post=Post(m.post),
            post_title=POST_TITLES[Post(m.post)],
            name=m.name,
            duties=m.duties,
            phone=m.phone if m.public_consent else mask_phone(m.phone),
            phone_is_masked=not m.public_consent,
            is_backup=is_backup,
        )
        for m, is_backup in pairs
    ]


async def responsible_by_area(
    session: AsyncSession, chains: Sequence[Sequence[uuid.UUID]], now: datetime
) -> list[list[tuple[Member, bool]]]:
    """For each chain of area ids (lowest first), who answers in the lowest area that has
    anyone answering. One query for all chains."""
    ids = sorted({a for chain in chains for a in chain})
    by_area: dict[uuid.UUID, list[Member]] = {}
    for m in await repository.of_areas(session, ids):
        by_area.setdefault(m.area_id, []).append(m)
    out: list[list[tuple[Member, bool]]] = []
    for chain in chains:
        found: list[tuple[Member, bool]] = []
        for area_id in chain:
            found = answering(by_area.get(area_id, []), now)
            if found:
                break
        out.append(found)
    return out


async def area_chain(session: AsyncSession, area: Area) -> list[Area]:
    """The area and its ancestors, lowest first."""
    codes = area.path.split(".")
    paths = [".".join(codes[: i + 1]) for i in range(len(codes))]
    found = await areas_repository.get_by_paths(session, paths)
    return [found[p] for p in reversed(paths) if p in found]
