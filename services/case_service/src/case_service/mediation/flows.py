"""Mediation steps that read grid_service first: the mediators (and their AB岗 backups).

``assign`` names grid_service members; they are read with no transaction open (CONVENTIONS:
never hold a transaction across an HTTP call), then the step runs in its own short transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from case_service.clients.grid import MemberDirectory
from case_service.mediation.service import MemberPick
from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed


def _invalid(index: int, reason: Text, detail: Text, code: str) -> ValidationFailed:
    return ValidationFailed(
        detail, code=code, errors=[FieldProblem(field=f"member_ids[{index}]", reason=reason)]
    )


async def resolve_members(
    directory: MemberDirectory, member_ids: list[uuid.UUID], now: datetime
) -> list[MemberPick]:
    """Each member named, or — while they are away — the backup answering for them (AB岗)."""
    picks: list[MemberPick] = []
    for index, member_id in enumerate(member_ids):
        member = await directory.get(member_id)
        if member is None:
            raise _invalid(
                index,
                Text("没有这个网格成员", "no such grid member"),
                Text(f"没有网格成员 {member_id}", f"No grid member {member_id}"),
                "unknown_member",
            )
        backup_for: uuid.UUID | None = None
        if member.get("away"):
            backups = [
                m
                for m in await directory.in_area(uuid.UUID(member["area_id"]))
                if m.get("backup_for_id") == member["id"] and not m.get("away")
            ]
            if not backups:
                raise _invalid(
                    index,
                    Text("本人不在岗且没有在岗的B岗", "away, and no backup (B岗) is present"),
                    Text(
                        f"{member['name']}不在岗，也没有在岗的B岗可以顶替",
                        f"{member['name']} is away and no backup is present",
                    ),
                    "mediator_away_no_backup",
                )
            backup_for = uuid.UUID(member["id"])
            member = backups[0]
        picks.append(
            MemberPick(
                member_id=uuid.UUID(member["id"]),
                account_id=str(member["account_id"]) if member.get("account_id") else None,
                name=member["name"],
                post=member["post"],
                area_path=member["area_path"],
                backup_for_member_id=backup_for,
            )
        )
    return picks
