"""Access-token verification against grid_service's JWKS, and the caller as a ``Principal``.

grid_service signs short-lived access tokens (ES256, with a ``kid``) and publishes its current
and previous public keys at ``/.well-known/jwks.json``. Every service verifies tokens locally:
keys are cached for ``jwks_cache_seconds``; a token whose ``kid`` is unknown triggers one refresh
(at most once every ``min_refresh_seconds``, so forged kids cannot make us hammer the IdP) — this
is how a key rotation reaches the other services without a restart.

Claims (see ``shared.contracts.auth.AccessClaims``): ``sub`` account id, ``roles``, ``areas``
(materialised area paths the account may act in), ``depts`` (department ids), ``scope`` (OAuth
scopes of platform clients), ``cid`` (platform client id), ``name``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.http import ServiceClient
from shared.i18n import Text
from shared.logging import get_logger
from shared.problem import AppError, Forbidden, Unauthorized, UpstreamUnavailable

log = get_logger(__name__)

ALGORITHMS = ["ES256"]


class Role:
    """Role names carried in tokens."""

    resident = "resident"
    grid_worker = "grid_worker"
    grid_leader = "grid_leader"
    dispatcher = "dispatcher"
    department_handler = "department_handler"
    supervisor = "supervisor"
    admin = "admin"
    platform = "platform"

    all = frozenset(
        {
            resident,
            grid_worker,
            grid_leader,
            dispatcher,
            department_handler,
            supervisor,
            admin,
            platform,
        }
    )


@dataclass(frozen=True)
class Principal:
    """Who is calling: an account (staff or resident) or a platform client."""

    subject: str
    roles: frozenset[str] = frozenset()
    area_paths: tuple[str, ...] = ()
    department_ids: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    name: str | None = None
    token_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def covers_area(self, path: str) -> bool:
        """True when ``path`` is one of the principal's areas or lies below one."""
        return any(path == p or path.startswith(p + ".") for p in self.area_paths)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope") or ""
        return cls(
            subject=str(claims["sub"]),
            roles=frozenset(str(r) for r in claims.get("roles") or []),
            area_paths=tuple(str(a) for a in claims.get("areas") or []),
            department_ids=tuple(str(d) for d in claims.get("depts") or []),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(scope),
            client_id=claims.get("cid"),
            name=claims.get("name"),
            token_id=claims.get("jti"),
            claims=claims,
        )


#: tokens remembered as verified by one :class:`JWKSVerifier` (a few MB at most)
VERIFIED_CACHE = 10_000


class JWKSVerifier:
    """Verifies access tokens with keys fetched from a JWKS URL (cached, rotation-aware)."""

    def __init__(
        self,
        client: ServiceClient,
        jwks_path: str,
        *,
        issuer: str,
        audience: str,
        cache_seconds: float = 300,
        min_refresh_seconds: float = 5,
        leeway_seconds: float = 5,
    ) -> None:
        self._client = client
        self._path = jwks_path
        self.issuer = issuer
        self.audience = audience
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.leeway = leeway_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        #: token → (claims, key id) of tokens verified already (see :meth:`verify`)
        self._verified: dict[str, tuple[dict[str, Any], str]] = {}

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < self.min_refresh_seconds or (not force and age < self.cache_seconds):
                return
            try:
                response = await self._client.get(self._path)
            except AppError as exc:
                if self._keys:  # keep serving with the keys we have
                    log.warning("jwks_refresh_failed", error=exc.instance_code)
                    return
                raise UpstreamUnavailable(
                    Text("无法获取签名密钥", "Signing keys could not be fetched"),
                    code="auth_unavailable",
                ) from exc
            if response.status_code != 200:
                raise UpstreamUnavailable(
                    Text("无法获取签名密钥", "Signing keys could not be fetched"),
                    code="auth_unavailable",
                )
            keys: dict[str, jwt.PyJWK] = {}
            for jwk in response.json().get("keys", []):
                kid = jwk.get("kid")
                if not kid:
                    continue
                try:
                    keys[kid] = jwt.PyJWK.from_dict(jwk)
                except jwt.PyJWTError:
                    log.warning("jwks_key_skipped", kid=kid)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        return self._keys.get(kid)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or a 401 problem. A client sends the same token with every
        request until it expires, so a token verified once is remembered (at most
        ``VERIFIED_CACHE`` of them) and answered from memory while it has not expired and the
        key that signed it is still published: a key withdrawn from the JWKS stops its tokens
        as soon as the keys are re-read, as before. Revocation is checked by the caller on
        every request (``get_principal``), cached or not."""
        if (hit := self._verified.get(token)) is not None:
            claims, kid = hit
            await self._refresh(force=False)  # a clock check unless the keys are due
            if kid in self._keys and time.time() < claims["exp"]:
                return claims
            del self._verified[token]
        claims, kid = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.pop(next(iter(self._verified)))  # the oldest
        self._verified[token] = (claims, kid)
        return claims

    async def _verify(self, token: str) -> tuple[dict[str, Any], str]:
        """The claims of a token checked in full, and the id of the key that signed it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(
                Text("访问令牌格式错误", "The access token is malformed"), code="invalid_token"
            ) from exc
        kid = header.get("kid")
        if not kid or header.get("alg") not in ALGORITHMS:
            raise Unauthorized(
                Text("访问令牌没有可用的密钥 ID", "The access token has no usable key id"),
                code="invalid_token",
            )
        key = await self.key_for(kid)
        if key is None:
            raise Unauthorized(
                Text("访问令牌由未知密钥签名", "The access token was signed by an unknown key"),
                code="invalid_token",
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                Text("访问令牌已过期", "The access token has expired"), code="token_expired"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(
                Text("访问令牌不是签发给本服务的", "The access token is for another audience"),
                code="invalid_token",
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(
                Text("访问令牌无效", "The access token is invalid"), code="invalid_token"
            ) from exc
        if claims.get("typ", "access") != "access":
            raise Unauthorized(Text("不是访问令牌", "Not an access token"), code="invalid_token")
        return claims, kid


bearer = HTTPBearer(
    auto_error=False, description="access token from grid_service `POST /api/v1/auth/token`"
)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller, or a 401 problem."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(Text("需要 Bearer 访问令牌", "A bearer access token is required"))
    verifier: JWKSVerifier = request.app.state.verifier
    claims = await verifier.verify(credentials.credentials)
    revocations = getattr(request.app.state, "revocations", None)
    if revocations is not None:
        revocations.check(claims)  # in memory: see shared.revocation
    principal = Principal.from_claims(claims)
    request.state.principal_subject = principal.subject
    from structlog.contextvars import bind_contextvars

    bind_contextvars(user_id=principal.subject)
    return principal


async def get_optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    return await get_principal(request, credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


def require(check: Callable[[Principal], object]) -> Any:
    """Dependency factory: ``check(principal)`` raises (403) when the caller may not call the
    operation at all. As a route dependency it runs before the request body is validated, so
    a caller that may not call an operation gets 403 whatever it sends, never 422 (issue 21).
    Checks on the object (whose case, which area) stay in the handler."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        check(principal)
        return principal

    return Depends(dependency)


def require_roles(*roles: str) -> Any:
    """Dependency factory: the caller must hold one of ``roles`` (403 otherwise); like
    :func:`require` it runs before the body is validated."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        ensure_roles(principal, *roles)
        return principal

    return Depends(dependency)


def ensure_roles(principal: Principal, *roles: str) -> None:
    """403 ``missing_role`` unless the caller holds one of ``roles``."""
    if not principal.has_role(*roles):
        raise Forbidden(
            Text(
                f"此操作需要以下角色之一：{'、'.join(sorted(roles))}",
                f"This action needs one of the roles: {', '.join(sorted(roles))}",
            ),
            code="missing_role",
        )
