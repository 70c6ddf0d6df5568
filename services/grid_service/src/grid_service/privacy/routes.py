"""``/api/v1/privacy``: the personal-data audit trail and special-group grants."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from grid_service.accounts import repository as accounts_repository
from grid_service.basicinfo.specialgroups import SpecialGroup
from grid_service.privacy import repository, rotation, service
from grid_service.privacy.deps import CipherDep, example_response
from grid_service.privacy.models import AuditAction, PiiAuditRecord
from grid_service.privacy.schemas import AuditRecordRead, GrantCreate, GrantRead
from grid_service.scope import AdminDep, TopAdminDep, ensure_covers
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import NotFound, problem_responses

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

AUDIT_EXAMPLE = {
    "items": [
        {
            "id": "0b8e5c6e-8f0e-4c1e-9d59-3c2a9b9f0a11",
            "occurred_at": "2026-11-23T12:00:00Z",
            "actor_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
            "actor_name": "陈建国",
            "actor_roles": ["grid_leader"],
            "action": "reveal",
            "subject_kind": "resident",
            "subject_ids": ["5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12"],
            "fields": ["id_number", "phone"],
            "row_count": 1,
            "reason": "办理低保复核",
            "request_id": "5f0c1e0e9d8b4b7c",
            "detail": {},
        }
    ],
    "next_cursor": None,
}
GRANT_EXAMPLE = {
    "account_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "tag": "community_correction",
    "granted_by": "00000000-0000-0000-0000-0000000000ad",
    "granted_at": "2026-11-23T12:00:00Z",
}


@router.get(
    "/audit-records",
    response_model=Page[AuditRecordRead],
    summary="List the personal-data audit trail",
    description="Admins only. Every unmasked read (`reveal=true`) and every export of personal "
    "data, and every grant or withdrawal of a special-group tag, newest first. Records cannot "
    "be changed or deleted (a database trigger refuses it).",
    responses=example_response(AUDIT_EXAMPLE, 200) | problem_responses(401, 403, 422),
)
async def list_audit_records(
    session: SessionDep,
    principal: AdminDep,
    page: PageDep,
    actor_id: Annotated[str | None, Query(max_length=64, description="who acted")] = None,
    action: Annotated[AuditAction | None, Query(description="reveal, export …")] = None,
    subject_id: Annotated[
        str | None, Query(max_length=64, description="records touching this resident")
    ] = None,
) -> Page[AuditRecordRead]:
    table = PiiAuditRecord.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.audit_statement(
            actor_id=actor_id,
            action=action.value if action else None,
            subject_id=subject_id,
        ),
        order_by=[table.c.occurred_at, table.c.id],
        params=page,
        descending=True,
        to_item=AuditRecordRead.model_validate,
    )


async def _account_in_scope(session: SessionDep, principal: AdminDep, account_id: str) -> None:
    try:
        account = await accounts_repository.get(session, uuid.UUID(account_id))
    except ValueError:
        account = None
    if account is None:
        raise NotFound(
            Text(f"没有账号 {account_id}", f"No account {account_id}"), code="account_not_found"
        )
    ensure_covers(principal, account.area_paths, what="account")


@router.post(
    "/special-group-grants",
    status_code=201,
    response_model=GrantRead,
    summary="Let an account see and change one special-group tag",
    description="Admins whose areas cover the account's. Without a grant an account neither "
    "sees a resident's tag of that group nor can set or change it. Audited.",
    responses=example_response(GRANT_EXAMPLE, 201) | problem_responses(401, 403, 404, 422),
)
async def grant(session: SessionDep, principal: AdminDep, body: GrantCreate) -> GrantRead:
    account_id = str(body.account_id)
    await _account_in_scope(session, principal, account_id)
    await repository.add_grant(session, account_id, body.tag.value, principal.subject)
    await service.record(
        session,
        principal,
        action=AuditAction.grant,
        subject_kind="account",
        subject_ids=[account_id],
        fields=[body.tag.value],
        reason=body.reason,
    )
    grants = await repository.grants_of(session, account_id)
    return next(GrantRead.model_validate(g) for g in grants if g.tag == body.tag.value)


@router.get(
    "/special-group-grants",
    response_model=list[GrantRead],
    summary="The special-group tags an account was granted",
    description="Admins whose areas cover the account's.",
    responses=example_response([GRANT_EXAMPLE], 200) | problem_responses(401, 403, 404, 422),
)
async def list_grants(
    session: SessionDep,
    principal: AdminDep,
    account_id: Annotated[uuid.UUID, Query(description="the account")],
) -> list[GrantRead]:
    await _account_in_scope(session, principal, str(account_id))
    return [
        GrantRead.model_validate(g) for g in await repository.grants_of(session, str(account_id))
    ]


@router.delete(
    "/special-group-grants/{account_id}/{tag}",
    status_code=204,
    summary="Withdraw a special-group grant",
    description="Admins whose areas cover the account's. `reason` is recorded in the audit trail.",
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke(
    session: SessionDep,
    principal: AdminDep,
    account_id: uuid.UUID,
    tag: SpecialGroup,
    reason: Annotated[str, Query(min_length=2, max_length=500, examples=["岗位调整"])],
) -> Response:
    await _account_in_scope(session, principal, str(account_id))
    if not await repository.remove_grant(session, str(account_id), tag.value):
        raise NotFound(
            Text("该账号没有这项授权", "The account has no such grant"), code="grant_not_found"
        )
    await service.record(
        session,
        principal,
        action=AuditAction.revoke,
        subject_kind="account",
        subject_ids=[str(account_id)],
        fields=[tag.value],
        reason=reason,
    )
    return Response(status_code=204)


class ReEncryption(BaseModel):
    re_encrypted: int = Field(description="values re-encrypted by this call")
    remaining: int = Field(description="values still under an older key")
    key_id: str = Field(description="the key that encrypts now")


@router.post(
    "/re-encryption",
    response_model=ReEncryption,
    summary="Re-encrypt personal numbers under the current key (after a rotation)",
    description="Admins of a whole tree. Put the new key first in `GRID_PII_KEYS`, keep the old "
    "ones listed, then call this until `remaining` is 0; the old key may then be removed.",
    responses=example_response({"re_encrypted": 500, "remaining": 1200, "key_id": "k2"})
    | problem_responses(401, 403, 422),
)
async def re_encryption(
    session: SessionDep,
    principal: TopAdminDep,
    cipher: CipherDep,
    limit: Annotated[int, Query(ge=1, le=5000, description="values per call")] = 500,
) -> ReEncryption:
    done, remaining = await rotation.re_encrypt(session, cipher, limit=limit)
    return ReEncryption(re_encrypted=done, remaining=remaining, key_id=cipher.primary_id)
