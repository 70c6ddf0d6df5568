"""Reveal checks, audit records and special-group grants. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.config import Settings
from grid_service.privacy import repository
from grid_service.privacy.models import AuditAction, PiiAuditRecord
from shared.auth import Principal
from shared.i18n import Text
from shared.logging import current_request_id
from shared.problem import FieldProblem, Forbidden, ValidationFailed


def may_reveal(principal: Principal, settings: Settings) -> bool:
    return principal.has_role(*settings.pii_reveal_roles)


def check_reveal(
    principal: Principal, settings: Settings, *, reveal: bool, reason: str | None
) -> bool:
    """True when full values are to be shown: asked for, allowed for the role, with a reason."""
    if not reveal:
        return False
    if not may_reveal(principal, settings):
        raise Forbidden(
            Text(
                "您的角色不能查看完整的身份证号或电话号码",
                "Your role may not see full ID or phone numbers",
            ),
            code="reveal_not_allowed",
        )
    if reason is None or not reason.strip():
        raise ValidationFailed(
            Text("请说明查看完整信息的理由", "Say why you need the full values"),
            code="reveal_reason_required",
            errors=[
                FieldProblem(
                    field="query.reason",
                    reason=Text("reveal=true 时必填", "required with reveal=true"),
                )
            ],
        )
    return True


async def record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: AuditAction,
    subject_kind: str,
    subject_ids: Iterable[str],
    fields: Iterable[str],
    reason: str,
    row_count: int | None = None,
    detail: dict[str, Any] | None = None,
) -> PiiAuditRecord:
    ids = [str(i) for i in subject_ids]
    entry = PiiAuditRecord(
        actor_id=principal.subject,
        actor_name=principal.name,
        actor_roles=sorted(principal.roles),
        action=action.value,
        subject_kind=subject_kind,
        subject_ids=ids[:1000],  # an export of more names its filter in `detail`
        fields=sorted(set(fields)),
        row_count=len(ids) if row_count is None else row_count,
        reason=reason.strip()[:500],
        request_id=current_request_id(),
        detail=detail or {},
    )
    session.add(entry)
    await session.flush()
    return entry


async def granted_tags(session: AsyncSession, principal: Principal) -> set[str]:
    return await repository.tags_of(session, principal.subject)


def audit_table() -> sa.Table:
    return PiiAuditRecord.__table__  # type: ignore[attr-defined, no-any-return]
