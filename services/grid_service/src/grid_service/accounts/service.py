"""Accounts and tokens: password logins with lockout, rotating refresh tokens with reuse
detection, client credentials, WeChat logins, and account management inside an admin's scope.
Flushes, never commits."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.accounts import repository
from grid_service.accounts.models import Account, AccountKind, PlatformClient, RefreshToken
from grid_service.accounts.passwords import hash_secret, sha256, verify_secret
from grid_service.accounts.schemas import (
    ACCOUNT_ROLES,
    AccountCreate,
    AccountRead,
    AccountUpdate,
    MeUpdate,
    PlatformClientCreate,
    PlatformClientCreated,
    PlatformClientRead,
)
from grid_service.accounts.tokens import sign_access_token
from grid_service.areas import repository as areas_repository
from grid_service.config import Settings
from grid_service.departments import repository as departments_repository
from grid_service.departments.models import Department
from grid_service.phones import mask_phone
from grid_service.scope import ensure_covers
from shared.auth import Principal, Role
from shared.contracts.auth import TokenResponse
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import AppError, Conflict, FieldProblem, NotFound, ValidationFailed


class OAuthError(AppError):
    """A token-endpoint error (RFC 6749 §5.2) as a problem; ``error`` carries the RFC code."""

    status = 400
    code = "invalid_grant"
    title = Text("令牌请求被拒绝", "The token request was refused")

    def __init__(
        self,
        detail: Text,
        *,
        code: str = "invalid_grant",
        error: str = "invalid_grant",
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, code=code, status=status, headers=headers, extra={"error": error})


def to_read(account: Account) -> AccountRead:
    return AccountRead(
        id=account.id,
        kind=account.kind,
        username=account.username,
        name=account.name,
        roles=list(account.roles),
        area_paths=list(account.area_paths),
        department_ids=list(account.department_ids),
        home_area_path=account.home_area_path,
        phone_masked=mask_phone(account.phone),
        wechat_bound=account.wechat_mp_openid is not None,
        channels=list(account.channels),
        locked_until=account.locked_until
        if account.locked_until and account.locked_until > utcnow()
        else None,
        disabled=account.disabled,
        created_at=account.created_at,
    )


# ---------------------------------------------------------------- tokens


async def department_codes(session: AsyncSession, ids: list[str]) -> list[str]:
    if not ids:
        return []
    rows = await session.execute(
        sa.select(col(Department.code)).where(col(Department.id).in_([uuid.UUID(i) for i in ids]))
    )
    return sorted(rows.scalars().all())


async def _issue(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    family_id: uuid.UUID | None = None,
) -> TokenResponse:
    family = family_id or uuid.uuid4()  # the sign-in: every token it issues carries it
    access, ttl = await sign_access_token(
        session,
        settings,
        {
            "sub": str(account.id),
            "sid": str(family),
            "roles": list(account.roles),
            "areas": list(account.area_paths),
            # Departments travel as their codes: the id every service shares (case
            # categories name their owner department by code).
            "depts": await department_codes(session, account.department_ids),
            "name": account.name,
        },
    )
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=sha256(refresh),
            family_id=family,
            account_id=account.id,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenResponse(access_token=access, expires_in=ttl, refresh_token=refresh)


def _usable(account: Account | None) -> bool:
    return account is not None and not account.disabled


async def password_grant(
    session: AsyncSession, settings: Settings, *, username: str, password: str
) -> TokenResponse:
    """Raises :class:`OAuthError`; the caller must still commit (failure counts persist)."""
    account = await repository.by_username(session, username, lock=True)
    now = utcnow()
    if account is not None and account.locked_until is not None and account.locked_until > now:
        retry = int((account.locked_until - now).total_seconds()) + 1
        raise OAuthError(
            Text(
                "登录失败次数过多，账号暂时锁定",
                "Too many failed logins; the account is locked for a while",
            ),
            code="account_locked",
            headers={"Retry-After": str(retry)},
        )
    ok = await verify_secret(account.password_hash if account else None, password)
    if account is None or not ok:
        if account is not None:
            account.failed_logins += 1
            if account.failed_logins >= settings.login_max_failures:
                account.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
                account.failed_logins = 0
            session.add(account)
            await session.flush()
        raise OAuthError(
            Text("用户名或密码错误", "The username or password is wrong"), code="invalid_grant"
        )
    if account.disabled:
        raise OAuthError(Text("账号已停用", "The account is disabled"), code="account_disabled")
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    return await _issue(session, settings, account)


async def refresh_grant(
    session: AsyncSession, settings: Settings, *, refresh_token: str
) -> TokenResponse:
    """Rotate: the presented token is used up and a new one of the same family returned.
    A token presented twice means it leaked: the whole family is revoked."""
    row = await repository.refresh_by_hash(session, sha256(refresh_token))
    now = utcnow()
    if row is None:
        raise OAuthError(Text("未知的刷新令牌", "Unknown refresh token"), code="invalid_grant")
    if row.revoked_at is not None:
        raise OAuthError(
            Text("刷新令牌已被吊销", "The refresh token was revoked"), code="refresh_token_revoked"
        )
    if row.used_at is not None:
        await repository.revoke_family(session, row.family_id, now)
        raise OAuthError(
            Text(
                "刷新令牌已使用过；本次登录的所有令牌均已吊销",
                "The refresh token was already used; every token of this sign-in is revoked",
            ),
            code="refresh_token_reused",
        )
    if row.expires_at <= now:
        raise OAuthError(
            Text("刷新令牌已过期", "The refresh token has expired"), code="refresh_token_expired"
        )
    row.used_at = now
    session.add(row)
    account = await repository.get(session, row.account_id)
    if account is None or not _usable(account):
        await repository.revoke_family(session, row.family_id, now)
        raise OAuthError(Text("账号已停用", "The account is disabled"), code="account_disabled")
    return await _issue(session, settings, account, family_id=row.family_id)


async def revoke_refresh_token(session: AsyncSession, *, token: str) -> None:
    row = await repository.refresh_by_hash(session, sha256(token))
    if row is not None:
        await repository.revoke_family(session, row.family_id, utcnow())


async def client_credentials_grant(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
) -> TokenResponse:
    client = await repository.client(session, client_id)
    ok = await verify_secret(client.secret_hash if client else None, client_secret)
    if client is None or not ok or client.disabled:
        raise OAuthError(
            Text("客户端认证失败", "Client authentication failed"),
            code="invalid_client",
            error="invalid_client",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="gridgov"'},
        )
    granted = list(client.scopes)
    if scope:
        asked = scope.split()
        extra = [s for s in asked if s not in client.scopes]
        if extra:
            raise OAuthError(
                Text(
                    f"该客户端不允许的权限范围：{' '.join(extra)}",
                    f"Scope not allowed for this client: {' '.join(extra)}",
                ),
                code="invalid_scope",
                error="invalid_scope",
            )
        granted = asked
    access, ttl = await sign_access_token(
        session,
        settings,
        {
            "sub": f"client:{client.id}",
            "cid": client.id,
            "roles": [Role.platform],
            "scope": " ".join(granted),
            "name": client.name,
        },
    )
    return TokenResponse(access_token=access, expires_in=ttl, scope=" ".join(granted))


async def wechat_grant(
    session: AsyncSession,
    settings: Settings,
    *,
    openid: str,
    unionid: str | None,
    name: str | None,
) -> tuple[TokenResponse, bool]:
    """Sign in (or sign up) the resident with this mini-program openid."""
    created = await repository.insert_resident_if_new(
        session,
        Account(
            kind=AccountKind.resident.value,
            name=name or "微信用户",
            roles=[Role.resident],
            wechat_mp_openid=openid,
            wechat_unionid=unionid,
        ),
    )
    account = await repository.by_wechat_openid(session, openid)
    assert account is not None
    if account.disabled:
        raise OAuthError(Text("账号已停用", "The account is disabled"), code="account_disabled")
    return await _issue(session, settings, account), created


# ---------------------------------------------------------------- accounts


def _account_paths(account: Account) -> list[str]:
    return list(account.area_paths) or ([account.home_area_path] if account.home_area_path else [])


def ensure_manages(principal: Principal, account: Account) -> None:
    ensure_covers(principal, _account_paths(account), what="account")


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await repository.get(session, account_id)
    if account is None:
        raise NotFound(
            Text(f"没有账号 {account_id}", f"No account {account_id}"), code="account_not_found"
        )
    return account


async def _check_grants(
    session: AsyncSession,
    *,
    roles: list[str] | None,
    area_paths: list[str] | None,
    department_ids: list[uuid.UUID] | None,
) -> None:
    problems: list[FieldProblem] = []
    for i, role in enumerate(roles or []):
        if role not in ACCOUNT_ROLES:
            problems.append(
                FieldProblem(
                    field=f"roles.{i}",
                    reason=Text(
                        f"未知角色；应为以下之一：{'、'.join(ACCOUNT_ROLES)}",
                        f"unknown role; one of {', '.join(ACCOUNT_ROLES)}",
                    ),
                    type="enum",
                )
            )
    if area_paths:
        found = await areas_repository.get_by_paths(session, area_paths)
        for i, path in enumerate(area_paths):
            if path not in found:
                problems.append(
                    FieldProblem(
                        field=f"area_paths.{i}",
                        reason=Text("没有这个区域", "no such area"),
                        type="not_found",
                    )
                )
    if department_ids:
        known = await departments_repository.existing_ids(session, department_ids)
        for i, dept in enumerate(department_ids):
            if dept not in known:
                problems.append(
                    FieldProblem(
                        field=f"department_ids.{i}",
                        reason=Text("没有这个部门", "no such department"),
                        type="not_found",
                    )
                )
    if problems:
        raise ValidationFailed(
            Text("账号无效", "The account is invalid"), code="invalid_account", errors=problems
        )


async def create_account(
    session: AsyncSession, *, body: AccountCreate, principal: Principal
) -> Account:
    ensure_covers(principal, body.area_paths, what="account")
    await _check_grants(
        session, roles=body.roles, area_paths=body.area_paths, department_ids=body.department_ids
    )
    if await repository.by_username(session, body.username) is not None:
        raise Conflict(
            Text(f"用户名 {body.username} 已被占用", f"The username {body.username} is taken"),
            code="username_taken",
        )
    account = Account(
        kind=AccountKind.staff.value,
        username=body.username,
        name=body.name,
        password_hash=await hash_secret(body.password),
        roles=sorted(set(body.roles)),
        area_paths=list(dict.fromkeys(body.area_paths)),
        department_ids=[str(d) for d in dict.fromkeys(body.department_ids)],
        home_area_path=body.area_paths[0] if body.area_paths else None,
        phone=body.phone,
        channels=[c.value for c in body.channels],
    )
    session.add(account)
    await session.flush()
    return account


async def update_account(
    session: AsyncSession, *, account: Account, body: AccountUpdate, principal: Principal
) -> Account:
    changes = body.model_dump(exclude_unset=True)
    for name in (
        "name",
        "password",
        "roles",
        "area_paths",
        "department_ids",
        "channels",
        "disabled",
    ):
        if name in changes and changes[name] is None:
            raise ValidationFailed(
                Text(f"{name} 不能为空", f"{name} cannot be null"),
                code="invalid_account",
                errors=[
                    FieldProblem(field=name, reason=Text("不能为空", "cannot be null"), type="null")
                ],
            )
    if body.area_paths is not None:
        ensure_covers(principal, body.area_paths, what="account")
    await _check_grants(
        session, roles=body.roles, area_paths=body.area_paths, department_ids=body.department_ids
    )
    if body.name is not None:
        account.name = body.name
    if body.password is not None:
        account.password_hash = await hash_secret(body.password)
        await repository.revoke_account_tokens(session, account.id, utcnow())
    if body.roles is not None:
        account.roles = sorted(set(body.roles))
    if body.area_paths is not None:
        account.area_paths = list(dict.fromkeys(body.area_paths))
        if account.kind == AccountKind.staff.value:
            account.home_area_path = body.area_paths[0] if body.area_paths else None
    if body.department_ids is not None:
        account.department_ids = [str(d) for d in dict.fromkeys(body.department_ids)]
    if "phone" in changes:
        account.phone = body.phone
    if body.channels is not None:
        account.channels = [c.value for c in body.channels]
    if body.disabled is not None:
        account.disabled = body.disabled
        if body.disabled:
            await repository.revoke_account_tokens(session, account.id, utcnow())
    session.add(account)
    await session.flush()
    return account


async def unlock(session: AsyncSession, *, account: Account) -> Account:
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    await session.flush()
    return account


async def update_me(session: AsyncSession, *, account: Account, body: MeUpdate) -> Account:
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "channels"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(
                Text(f"{name} 不能为空", f"{name} cannot be null"),
                code="invalid_account",
                errors=[
                    FieldProblem(field=name, reason=Text("不能为空", "cannot be null"), type="null")
                ],
            )
    if body.name is not None:
        account.name = body.name
    if "phone" in changes:
        account.phone = body.phone
    if body.channels is not None:
        account.channels = [c.value for c in body.channels]
    if "home_area_id" in changes:
        if body.home_area_id is None:
            account.home_area_path = None
        else:
            area = await areas_repository.get(session, body.home_area_id)
            if area is None:
                raise ValidationFailed(
                    Text("没有这个区域", "No such area"),
                    code="invalid_account",
                    errors=[
                        FieldProblem(
                            field="home_area_id",
                            reason=Text("没有这个区域", "no such area"),
                            type="not_found",
                        )
                    ],
                )
            account.home_area_path = area.path
    session.add(account)
    await session.flush()
    return account


# ---------------------------------------------------------------- platform clients


def client_read(client: PlatformClient) -> PlatformClientRead:
    return PlatformClientRead(
        id=client.id,
        name=client.name,
        scopes=list(client.scopes),
        has_api_key=client.api_key_hash is not None,
        disabled=client.disabled,
        created_at=client.created_at,
    )


async def create_client(
    session: AsyncSession,
    *,
    body: PlatformClientCreate,
    secret: str | None = None,
    api_key: str | None = None,
) -> PlatformClientCreated:
    import re

    from grid_service.accounts.schemas import SCOPE_PATTERN

    bad = [
        FieldProblem(
            field=f"scopes.{i}",
            reason=Text("权限范围形如 `recipients:read`", "a scope looks like `recipients:read`"),
        )
        for i, s in enumerate(body.scopes)
        if not re.match(SCOPE_PATTERN, s)
    ]
    if bad:
        raise ValidationFailed(
            Text("权限范围无效", "Invalid scopes"), code="invalid_client", errors=bad
        )
    if await repository.client(session, body.id) is not None:
        raise Conflict(
            Text(f"客户端 {body.id} 已存在", f"Client {body.id} exists"), code="client_exists"
        )
    secret = secret or secrets.token_urlsafe(32)
    if body.with_api_key:
        api_key = api_key or secrets.token_urlsafe(32)
    client = PlatformClient(
        id=body.id,
        name=body.name,
        secret_hash=await hash_secret(secret),
        scopes=sorted(set(body.scopes)),
        api_key_hash=sha256(api_key) if api_key else None,
    )
    session.add(client)
    await session.flush()
    return PlatformClientCreated(
        **client_read(client).model_dump(), client_secret=secret, api_key=api_key
    )


async def verify_api_key(session: AsyncSession, *, api_key: str) -> PlatformClient:
    client = await repository.client_by_api_key_hash(session, sha256(api_key))
    if client is None or client.disabled:
        raise NotFound(
            Text("没有平台客户端使用此 API key", "No platform client has this API key"),
            code="unknown_api_key",
        )
    return client
