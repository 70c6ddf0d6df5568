"""``/api/v1/auth``, ``/api/v1/accounts`` and ``/api/v1/platform-clients``."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from grid_service.accounts import repository, service
from grid_service.accounts.models import Account, AccountKind, PlatformClient
from grid_service.accounts.schemas import (
    AccountCreate,
    AccountRead,
    AccountUpdate,
    KeyRotated,
    MeUpdate,
    PlatformClientCreate,
    PlatformClientCreated,
    PlatformClientRead,
    WeChatLogin,
)
from grid_service.accounts.service import OAuthError
from grid_service.accounts.wechat import WeChatClient
from grid_service.keys import service as keys_service
from grid_service.privacy.deps import example_response
from grid_service.scope import AdminDep, TopAdminDep, ensure_scope
from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.contracts.auth import TokenResponse
from shared.contracts.platform import ApiKeyOwner, ApiKeyVerifyRequest
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import Forbidden, NotFound, problem_response, problem_responses

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
accounts_router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])
clients_router = APIRouter(prefix="/api/v1/platform-clients", tags=["platform clients"])

TOKEN_EXAMPLE = {
    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjFmMGMyYTliOGQ3ZTZmNTAifQ.…",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "q9cV1n3mC6c0wq3w5Yc1bS2o8qk0P0M3qR9x1m2n3o4",
    "scope": None,
}
ACCOUNT_EXAMPLE = {
    "id": "2b1c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
    "kind": "staff",
    "username": "worker",
    "name": "王芳",
    "roles": ["grid_worker"],
    "area_paths": ["330100.330106.330106001.330106001001"],
    "department_ids": [],
    "home_area_path": "330100.330106.330106001.330106001001",
    "phone_masked": "138****5678",
    "wechat_bound": False,
    "channels": ["inbox", "sms"],
    "locked_until": None,
    "disabled": False,
    "created_at": "2026-11-23T12:00:00Z",
}
OK_ACCOUNT = {"content": {"application/json": {"example": ACCOUNT_EXAMPLE}}}
PAGE_OF_ACCOUNTS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {"example": {"items": [ACCOUNT_EXAMPLE], "next_cursor": None}}
        }
    }
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _token_json(token: TokenResponse) -> JSONResponse:
    return JSONResponse(token.model_dump(exclude_none=True), headers=NO_STORE)


def _oauth_problem(request: Request, exc: OAuthError) -> JSONResponse:
    """Answer a refused grant without raising, so the request's transaction still commits
    what the refusal wrote (a failed-login count, a revoked token family)."""
    return problem_response(
        request,
        status=exc.instance_status,
        code=exc.instance_code,
        title=exc.instance_title,
        detail=exc.detail,
        headers={**NO_STORE, **exc.headers},
        extra=exc.extra,
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = raw.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


@auth_router.post(
    "/token",
    response_model=TokenResponse,
    summary="Get an access token (OAuth2 token endpoint)",
    description="`application/x-www-form-urlencoded`, RFC 6749. Grants:\n\n"
    "* `password` — staff: `username`, `password`. After `GRID_LOGIN_MAX_FAILURES` wrong "
    "passwords the account is locked for `GRID_LOGIN_LOCKOUT_SECONDS` (`account_locked`).\n"
    "* `refresh_token` — `refresh_token`; single use: each use returns a new one, and "
    "presenting a used one again revokes every token of that sign-in (`refresh_token_reused`).\n"
    "* `client_credentials` — platforms: `client_id` and `client_secret` (form or HTTP "
    "Basic), optional `scope` (a subset of the client's scopes). No refresh token.\n\n"
    "Refusals are problem+json with `code` (`invalid_grant`, `account_locked`, "
    "`refresh_token_reused`, `invalid_client` …) and the RFC 6749 `error`.",
    responses={
        200: {"content": {"application/json": {"example": TOKEN_EXAMPLE}}},
        **problem_responses(400, 401),
    },
)
async def token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[
        str | None,
        Form(examples=["password"], description="password, refresh_token or client_credentials"),
    ] = None,
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    refresh_token: Annotated[str | None, Form(max_length=256)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    settings = _settings(request)
    try:
        if grant_type == "password":
            if not username or not password:
                raise OAuthError(
                    Text("用户名和密码必填", "username and password are required"),
                    code="invalid_request",
                    error="invalid_request",
                )
            result = await service.password_grant(
                session, settings, username=username, password=password
            )
        elif grant_type == "refresh_token":
            if not refresh_token:
                raise OAuthError(
                    Text("refresh_token 必填", "refresh_token is required"),
                    code="invalid_request",
                    error="invalid_request",
                )
            result = await service.refresh_grant(session, settings, refresh_token=refresh_token)
        elif grant_type == "client_credentials":
            basic = _basic_credentials(request)
            cid, secret = basic if basic else (client_id, client_secret)
            if not cid or not secret:
                raise OAuthError(
                    Text(
                        "client_id 和 client_secret 必填",
                        "client_id and client_secret are required",
                    ),
                    code="invalid_client",
                    error="invalid_client",
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="gridgov"'},
                )
            result = await service.client_credentials_grant(
                session, settings, client_id=cid, client_secret=secret, scope=scope
            )
        elif not grant_type:
            raise OAuthError(
                Text("grant_type 必填", "grant_type is required"),
                code="invalid_request",
                error="invalid_request",
            )
        else:
            raise OAuthError(
                Text(f"不支持的 grant_type {grant_type}", f"Unsupported grant_type {grant_type}"),
                code="unsupported_grant_type",
                error="unsupported_grant_type",
            )
    except OAuthError as exc:
        return _oauth_problem(request, exc)
    return _token_json(result)


@auth_router.post(
    "/wechat",
    response_model=TokenResponse,
    summary="Resident login with the WeChat mini-program",
    description="Send the `code` from `wx.login()`. The service exchanges it through WeChat's "
    "`jscode2session`, signs the resident in (creating the account on first login) and "
    "returns our tokens. WeChat refusals: 40029 → 400 `wechat_code_invalid`, 45011 → 429 "
    "`wechat_rate_limited`, 40226 → 403 `wechat_user_blocked`, -1 → 503 `wechat_busy`.",
    responses={
        200: {"content": {"application/json": {"example": TOKEN_EXAMPLE}}},
        **problem_responses(400, 403, 422, 429, 502, 503, 504),
    },
)
async def wechat_login(request: Request, session: SessionDep, body: WeChatLogin) -> Response:
    wechat: WeChatClient = request.app.state.wechat
    # the WeChat call happens before the first query, so no transaction is held across it
    found = await wechat.code_to_session(body.code)
    try:
        result, _created = await service.wechat_grant(
            session, _settings(request), openid=found.openid, unionid=found.unionid, name=body.name
        )
    except OAuthError as exc:
        return _oauth_problem(request, exc)
    return _token_json(result)


@auth_router.post(
    "/revoke",
    status_code=200,
    summary="Revoke a refresh token (RFC 7009)",
    description="Form field `token`: the refresh token; every token of that sign-in is "
    "revoked. Always 200, also for unknown tokens.",
    responses={200: {"content": {"application/json": {"example": {}}}}},
)
async def revoke(
    session: SessionDep, token: Annotated[str, Form(min_length=1, max_length=256)]
) -> dict[str, str]:
    await service.revoke_refresh_token(session, token=token)
    return {}


class RevocationItem(BaseModel):
    id: int = Field(description="the feed's cursor: ask for `after` the last one seen")
    kind: Literal["sid", "account"] = Field(
        description="`sid`: one sign-in (the `sid` claim); `account`: every token of the "
        "account issued until `revoked_at`"
    )
    value: str = Field(description="the sign-in id or the account id")
    revoked_at: datetime


class RevocationFeed(BaseModel):
    items: list[RevocationItem]
    last_id: int = Field(
        description="the highest id in the feed: a follower whose cursor is above it re-reads "
        "from 0 (a restored database)"
    )


@auth_router.get(
    "/revocations",
    response_model=RevocationFeed,
    summary="The revocation feed every service follows",
    description="Revoked sign-ins and accounts in order, after the cursor `after`; only "
    "entries whose tokens can still be alive (younger than `GRID_REVOCATION_KEEP_SECONDS`). "
    "Every service polls it every `*_REVOCATION_POLL_SECONDS` and refuses the matching access "
    "tokens with 401 `token_revoked` (docs/security.md). Public like the JWKS: it holds opaque "
    "ids only, and services call it before they can verify anything.",
    responses=example_response(
        {
            "items": [
                {
                    "id": 41,
                    "kind": "sid",
                    "value": "0d3c2b1a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "revoked_at": "2026-12-06T07:00:00Z",
                }
            ],
            "last_id": 41,
        }
    ),
)
async def revocation_feed(
    request: Request,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="the last id seen (0: from the start)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> RevocationFeed:
    since = utcnow() - timedelta(seconds=_settings(request).revocation_keep_seconds)
    rows = await repository.revocations_after(session, after, limit=limit, since=since)
    return RevocationFeed(
        last_id=await repository.last_revocation_id(session),
        items=[
            RevocationItem(id=r.id or 0, kind=r.kind, value=r.value, revoked_at=r.revoked_at)
            for r in rows
        ],
    )


@auth_router.post(
    "/keys/rotate",
    response_model=KeyRotated,
    summary="Rotate the token signing key",
    description="Admins of a whole tree only. A new key signs from now on; the previous one "
    "stays published in `/.well-known/jwks.json` for `GRID_SIGNING_KEY_GRACE_SECONDS`, so "
    "tokens it signed keep verifying in every service until they expire.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"kid": "9a8b7c6d5e4f3a21", "previous_kids": ["1f0c2a9b8d7e6f50"]}
                }
            }
        },
        **problem_responses(401, 403),
    },
)
async def rotate_keys(request: Request, session: SessionDep, principal: TopAdminDep) -> KeyRotated:
    from datetime import timedelta

    settings = _settings(request)
    key = await keys_service.rotate(session, secret=settings.signing_key_secret)
    published = await keys_service.published_keys(
        session, grace=timedelta(seconds=settings.signing_key_grace_seconds)
    )
    return KeyRotated(kid=key.kid, previous_kids=[k.kid for k in published if k.kid != key.kid])


# ---------------------------------------------------------------- accounts


async def _me(session: SessionDep, principal: CurrentPrincipal) -> Account:
    try:
        account_id = uuid.UUID(principal.subject)
    except ValueError as exc:
        raise Forbidden(
            Text("平台客户端没有账号", "Platform clients have no account"), code="not_an_account"
        ) from exc
    account = await repository.get(session, account_id)
    if account is None:
        raise NotFound(
            Text("您的账号已不存在", "Your account no longer exists"), code="account_not_found"
        )
    return account


@accounts_router.get(
    "/me",
    response_model=AccountRead,
    summary="My account",
    description="The signed-in person's own account (phone masked).",
    responses={200: OK_ACCOUNT, **problem_responses(401, 403, 404)},
)
async def get_me(session: SessionDep, principal: CurrentPrincipal) -> AccountRead:
    return service.to_read(await _me(session, principal))


@accounts_router.patch(
    "/me",
    response_model=AccountRead,
    summary="Change my account: bind a phone, set my home area and channels",
    description="A resident binds a phone number and sets where they live (for area "
    "broadcasts) and how they want to be told.",
    responses={200: OK_ACCOUNT, **problem_responses(401, 403, 404, 422)},
)
async def update_me(
    session: SessionDep, principal: CurrentPrincipal, body: MeUpdate
) -> AccountRead:
    account = await _me(session, principal)
    return service.to_read(await service.update_me(session, account=account, body=body))


@accounts_router.post(
    "",
    status_code=201,
    response_model=AccountRead,
    summary="Create a staff account",
    description="Admins only; every area granted must lie inside the admin's areas.",
    responses={201: OK_ACCOUNT, **problem_responses(401, 403, 409, 422)},
)
async def create_account(
    session: SessionDep, principal: AdminDep, body: AccountCreate
) -> AccountRead:
    return service.to_read(await service.create_account(session, body=body, principal=principal))


@accounts_router.get(
    "",
    response_model=Page[AccountRead],
    summary="List accounts",
    description="Admins only; only accounts inside the admin's areas are listed "
    "(filtered after paging, so a page may be short).",
    responses={**PAGE_OF_ACCOUNTS, **problem_responses(401, 403, 422)},
)
async def list_accounts(
    session: SessionDep, principal: AdminDep, page: PageDep, kind: AccountKind | None = None
) -> Page[AccountRead]:
    table = Account.__table__  # type: ignore[attr-defined]
    listed = await paginate(
        session,
        repository.list_statement(kind=kind.value if kind else None),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=False,
        to_item=lambda a: a,
    )
    visible = []
    for account in listed.items:
        try:
            service.ensure_manages(principal, account)
        except Forbidden:
            continue
        visible.append(service.to_read(account))
    return Page[AccountRead](items=visible, next_cursor=listed.next_cursor)


@accounts_router.get(
    "/{account_id}",
    response_model=AccountRead,
    summary="Get an account",
    description="Admins only, inside their areas.",
    responses={200: OK_ACCOUNT, **problem_responses(401, 403, 404)},
)
async def get_account(
    session: SessionDep, principal: AdminDep, account_id: uuid.UUID
) -> AccountRead:
    account = await service.get_account(session, account_id)
    service.ensure_manages(principal, account)
    return service.to_read(account)


@accounts_router.patch(
    "/{account_id}",
    response_model=AccountRead,
    summary="Change an account",
    description="Admins only, for accounts inside their areas and granting only areas inside "
    "them. A new password or disabling revokes the account's refresh tokens.",
    responses={200: OK_ACCOUNT, **problem_responses(401, 403, 404, 422)},
)
async def update_account(
    session: SessionDep, principal: AdminDep, account_id: uuid.UUID, body: AccountUpdate
) -> AccountRead:
    account = await service.get_account(session, account_id)
    service.ensure_manages(principal, account)
    account = await service.update_account(session, account=account, body=body, principal=principal)
    return service.to_read(account)


@accounts_router.post(
    "/{account_id}/unlock",
    response_model=AccountRead,
    summary="Unlock an account locked after failed logins",
    description="Admins only, inside their areas.",
    responses={200: OK_ACCOUNT, **problem_responses(401, 403, 404)},
)
async def unlock_account(
    session: SessionDep, principal: AdminDep, account_id: uuid.UUID
) -> AccountRead:
    account = await service.get_account(session, account_id)
    service.ensure_manages(principal, account)
    return service.to_read(await service.unlock(session, account=account))


# ---------------------------------------------------------------- platform clients


@clients_router.post(
    "",
    status_code=201,
    response_model=PlatformClientCreated,
    summary="Register a platform client",
    description="Admins of a whole tree only. Returns the client secret (and the API key when "
    "asked) once; only hashes are stored.",
    responses={
        201: {
            "content": {
                "application/json": {
                    "example": {
                        "id": "hotline-12345",
                        "name": "12345 政务服务便民热线",
                        "scopes": ["open311"],
                        "has_api_key": True,
                        "disabled": False,
                        "created_at": "2026-11-23T12:00:00Z",
                        "client_secret": "tB2…",
                        "api_key": "k9Q…",
                    }
                }
            }
        },
        **problem_responses(401, 403, 409, 422),
    },
)
async def create_client(
    session: SessionDep, principal: TopAdminDep, body: PlatformClientCreate
) -> PlatformClientCreated:
    return await service.create_client(session, body=body)


@clients_router.get(
    "",
    response_model=Page[PlatformClientRead],
    summary="List platform clients",
    description="Admins of a whole tree only.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "id": "notify_service",
                                "name": "notify_service",
                                "scopes": ["recipients:read"],
                                "has_api_key": False,
                                "disabled": False,
                                "created_at": "2026-11-23T12:00:00Z",
                            }
                        ],
                        "next_cursor": None,
                    }
                }
            }
        },
        **problem_responses(401, 403, 422),
    },
)
async def list_clients(
    session: SessionDep, principal: TopAdminDep, page: PageDep
) -> Page[PlatformClientRead]:
    import sqlalchemy as sa

    table = PlatformClient.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(PlatformClient),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=False,
        to_item=service.client_read,
    )


def _may_verify_api_keys(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        ensure_scope(principal, "api_keys:verify")


@clients_router.post(
    "/verify-api-key",
    response_model=ApiKeyOwner,
    summary="Which platform client owns this API key",
    description="For case_service's Open311 endpoints: the caller's token needs the scope "
    "`api_keys:verify`. 404 `unknown_api_key` when no (enabled) client has the key.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "client_id": "open311-demo",
                        "name": "Open311 demo platform",
                        "scopes": ["open311"],
                    }
                }
            }
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def verify_api_key(
    principal: Annotated[Principal, require(_may_verify_api_keys)],
    session: SessionDep,
    body: ApiKeyVerifyRequest,
) -> ApiKeyOwner:
    client = await service.verify_api_key(session, api_key=body.api_key)
    return ApiKeyOwner(client_id=client.id, name=client.name, scopes=list(client.scopes))
