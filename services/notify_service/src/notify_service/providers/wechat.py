"""WeChat: official-account template messages (公众号模板消息) and mini-program subscribe
messages (小程序订阅消息).

The access token of each app comes from the stable-token endpoint
(``POST /cgi-bin/stable_token``), is cached per app and refreshed ``refresh_margin`` before it
expires. On 40001/42001/40014 (the token is invalid or expired — another process may have
forced a refresh) the token is force-refreshed once and the send retried once.

43101 (the user has not subscribed to this template) and 43004 (the user does not follow the
account) are permanent for this channel: the notification falls back to the next channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from notify_service.providers.base import OutboundMessage, Outcome, SendResult
from notify_service.providers.http_errors import http_failure, transport_failure
from shared.logging import get_logger

log = get_logger(__name__)

TOKEN_ERRORS = frozenset({40001, 42001, 40014})
PERMANENT_ERRORS = frozenset(
    {
        43101,  # user refused / not subscribed (订阅消息)
        43004,  # require subscribe (未关注公众号)
        43019,  # user in blacklist of the account
        40003,  # invalid openid
        40037,  # invalid template_id
        47003,  # template data invalid
        40036,  # invalid template size
    }
)
RATE_LIMIT_ERRORS = {45009: timedelta(hours=1), 45047: timedelta(minutes=1)}
OUTAGE_ERRORS = frozenset({48001, 40125, 40164, 41002, 40013})  # app misconfigured/unusable


class TokenUnavailable(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.code)
        self.result = result


@dataclass
class _Token:
    value: str
    expires_at: datetime


class WechatTokenCache:
    """Access tokens per app id, from the stable-token endpoint."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        secrets: dict[str, str],
        clock: Callable[[], datetime],
        refresh_margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._client = client
        self._secrets = secrets
        self._clock = clock
        self._margin = refresh_margin
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0

    async def get(self, app_id: str, *, force: bool = False, stale: str | None = None) -> str:
        lock = self._locks.setdefault(app_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(app_id)
            if (
                cached is not None
                and not force
                and cached.expires_at - self._margin > self._clock()
            ):
                return cached.value
            if cached is not None and force and stale is not None and cached.value != stale:
                return cached.value  # another send already refreshed it
            return await self._fetch(app_id, force=force)

    async def _fetch(self, app_id: str, *, force: bool) -> str:
        self.fetches += 1
        try:
            response = await self._client.post(
                "/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": app_id,
                    "secret": self._secrets.get(app_id, ""),
                    "force_refresh": force,
                },
            )
        except httpx.TransportError as exc:
            result = transport_failure(exc)
            # no message was sent: an ambiguous token call is just transient
            outcome = Outcome.transient if result.outcome is Outcome.ambiguous else result.outcome
            raise TokenUnavailable(SendResult(outcome, code=result.code)) from exc
        failure = http_failure(response)
        if failure is not None:
            raise TokenUnavailable(failure)
        body = response.json()
        token = body.get("access_token")
        if not token:
            code = int(body.get("errcode", 0) or 0)
            outcome = Outcome.transient if code in (-1, 45009) else Outcome.outage
            raise TokenUnavailable(
                SendResult(outcome, code=f"wechat.{code}", detail=str(body.get("errmsg", "")))
            )
        expires_in = int(body.get("expires_in", 7200))
        self._tokens[app_id] = _Token(token, self._clock() + timedelta(seconds=expires_in))
        return str(token)


def classify(errcode: int) -> Outcome:
    if errcode == -1:
        return Outcome.transient  # system busy
    if errcode in PERMANENT_ERRORS:
        return Outcome.permanent
    if errcode in RATE_LIMIT_ERRORS:
        return Outcome.rate_limited
    if errcode in OUTAGE_ERRORS:
        return Outcome.outage
    return Outcome.transient


class WechatProvider:
    """Sends on channel ``wechat_oa`` (template message) or ``wechat_mp`` (subscribe message)."""

    name = "wechat"

    def __init__(
        self,
        *,
        api_base: str,
        oa_app_id: str,
        oa_app_secret: str,
        mp_app_id: str,
        mp_app_secret: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime],
        refresh_margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_base, timeout=httpx.Timeout(timeout), transport=transport
        )
        self.app_ids = {"wechat_oa": oa_app_id, "wechat_mp": mp_app_id}
        self.tokens = WechatTokenCache(
            self._client,
            secrets={oa_app_id: oa_app_secret, mp_app_id: mp_app_secret},
            clock=clock,
            refresh_margin=refresh_margin,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def build_body(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        data = {k: {"value": str(v)} for k, v in (message.params.get("data") or {}).items()}
        if message.channel == "wechat_oa":
            body: dict[str, Any] = {
                "touser": message.to,
                "template_id": message.params.get("template_id", ""),
                "data": data,
                "client_msg_id": message.notification_id,
            }
            if message.params.get("url"):
                body["url"] = message.params["url"]
            if message.params.get("miniprogram"):
                body["miniprogram"] = message.params["miniprogram"]
            return "/cgi-bin/message/template/send", body
        body = {
            "touser": message.to,
            "template_id": message.params.get("template_id", ""),
            "data": data,
            "lang": "zh_CN",
        }
        if message.params.get("page"):
            body["page"] = message.params["page"]
        if message.params.get("miniprogram_state"):
            body["miniprogram_state"] = message.params["miniprogram_state"]
        return "/cgi-bin/message/subscribe/send", body

    async def _post(self, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
        return await self._client.post(path, params={"access_token": token}, json=body)

    async def send(self, message: OutboundMessage) -> SendResult:
        app_id = self.app_ids[message.channel]
        path, body = self.build_body(message)
        token: str | None = None
        for attempt in (1, 2):
            try:
                token = await self.tokens.get(app_id, force=attempt == 2, stale=token)
            except TokenUnavailable as exc:
                return exc.result
            try:
                response = await self._post(path, token, body)
            except httpx.TransportError as exc:
                return transport_failure(exc)
            failure = http_failure(response)
            if failure is not None:
                return failure
            try:
                answer = response.json()
            except ValueError:
                return SendResult(Outcome.transient, code="invalid_response")
            errcode = int(answer.get("errcode", 0) or 0)
            if errcode == 0:
                msgid = answer.get("msgid")
                return SendResult(
                    Outcome.accepted,
                    provider_message_id=str(msgid) if msgid is not None else None,
                    code="0",
                )
            if errcode in TOKEN_ERRORS and attempt == 1:
                log.info("wechat_token_rejected", app_id=app_id, errcode=errcode)
                continue
            outcome = Outcome.transient if errcode in TOKEN_ERRORS else classify(errcode)
            return SendResult(
                outcome,
                code=f"wechat.{errcode}",
                detail=str(answer.get("errmsg", ""))[:300],
                retry_after=RATE_LIMIT_ERRORS.get(errcode),
            )
        raise AssertionError("unreachable")
