"""Local fakes of the providers and of grid_service, checking requests as the real ones do.

One ``httpx.MockTransport`` dispatches on the host. Each fake verifies what the real service
verifies (signatures recomputed here independently of the adapters, credentials, tokens) and
answers with the next scripted behaviour, or success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx

ALIYUN_HOST = "dysmsapi.aliyun.test"
TENCENT_HOST = "sms.tencentcloudapi.test"
WECHAT_HOST = "api.weixin.test"
GRID_HOST = "grid.test"

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI5tTestKeyId", "aliyun-test-secret"
TENCENT_ID, TENCENT_KEY, TENCENT_APP = "AKIDtestSecretId", "tencent-test-key", "1400000001"
OA_APP, OA_SECRET = "wxoa00000000000001", "oa-secret"
MP_APP, MP_SECRET = "wxmp00000000000002", "mp-secret"
GRID_CLIENT, GRID_SECRET = "notify_service", "grid-client-secret"

Behaviour = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Rejected(Exception):
    """The fake refuses the request as the real provider would (signature, params)."""


# --- Alibaba ------------------------------------------------------------------------------
def _pe(value: str) -> str:
    return quote(value, safe="~")


def aliyun_expected_signature(params: dict[str, str], secret: str, method: str) -> str:
    query = "&".join(f"{_pe(k)}={_pe(params[k])}" for k in sorted(params))
    to_sign = method + "&%2F&" + _pe(query)
    return base64.b64encode(
        hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()


ALIYUN_REQUIRED = {
    "SendSms": ["PhoneNumbers", "SignName", "TemplateCode"],
    "SendBatchSms": ["PhoneNumberJson", "SignNameJson", "TemplateCode"],
    "QuerySendDetails": ["PhoneNumber", "SendDate", "PageSize", "CurrentPage"],
}


def check_aliyun(request: httpx.Request) -> dict[str, str]:
    params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    signature = params.pop("Signature", "")
    common = [
        "AccessKeyId",
        "Action",
        "Format",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
        "RegionId",
    ]
    if params.get("Action") not in ALIYUN_REQUIRED or params.get("Version") != "2017-05-25":
        raise Rejected("InvalidAction")
    for key in common + ALIYUN_REQUIRED[params["Action"]]:
        if not params.get(key):
            raise Rejected(f"MissingParameter {key}")
    if params["AccessKeyId"] != ALIYUN_KEY_ID:
        raise Rejected("InvalidAccessKeyId.NotFound")
    if signature != aliyun_expected_signature(params, ALIYUN_SECRET, request.method):
        raise Rejected("SignatureDoesNotMatch")
    if params["Action"] == "SendBatchSms":
        check_aliyun_batch(params)
        return params
    template_param = json.loads(params.get("TemplateParam") or "{}")
    if not _string_object(template_param):
        raise Rejected("isv.INVALID_JSON_PARAM")
    return params


def _string_object(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def check_aliyun_batch(params: dict[str, str]) -> None:
    """SendBatchSms: JSON arrays of the same length, 1 to 100 numbers, one template."""
    try:
        phones = json.loads(params["PhoneNumberJson"])
        signs = json.loads(params["SignNameJson"])
        values = json.loads(params.get("TemplateParamJson") or "null")
    except ValueError as exc:
        raise Rejected("isv.INVALID_JSON_PARAM") from exc
    if not isinstance(phones, list) or not isinstance(signs, list):
        raise Rejected("isv.INVALID_JSON_PARAM")
    if not 1 <= len(phones) <= 100:
        raise Rejected("isv.MOBILE_COUNT_OVER_LIMIT")
    if len(signs) != len(phones) or not all(isinstance(x, str) and x for x in signs):
        raise Rejected("isv.INVALID_PARAMETERS")
    if values is not None and (
        not isinstance(values, list)
        or len(values) != len(phones)
        or not all(_string_object(v) for v in values)
    ):
        raise Rejected("isv.INVALID_JSON_PARAM")
    if len(params.get("OutId", "")) >= 256:
        raise Rejected("isv.PARAM_LENGTH_LIMIT")


# --- Tencent ------------------------------------------------------------------------------
def tencent_expected_authorization(request: httpx.Request, secret_id: str, secret_key: str) -> str:
    timestamp = int(request.headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    content_type = request.headers["Content-Type"]
    host = request.headers["Host"]
    canonical = (
        f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
        + hashlib.sha256(request.content).hexdigest()
    )
    scope = f"{date}/sms/tc3_request"
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
    )

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), "sms"), "tc3_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={sig}"
    )


def check_tencent(request: httpx.Request) -> dict[str, Any]:
    if request.headers.get("X-TC-Action") != "SendSms":
        raise Rejected("InvalidAction")
    if request.headers.get("X-TC-Version") != "2021-01-11":
        raise Rejected("InvalidParameter.Version")
    expected = tencent_expected_authorization(request, TENCENT_ID, TENCENT_KEY)
    if request.headers.get("Authorization") != expected:
        raise Rejected("AuthFailure.SignatureFailure")
    body: dict[str, Any] = json.loads(request.content)
    if body.get("SmsSdkAppId") != TENCENT_APP or not body.get("PhoneNumberSet"):
        raise Rejected("InvalidParameterValue")
    phones, values = body["PhoneNumberSet"], body.get("TemplateParamSet", [])
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise Rejected("InvalidParameterValue.IncorrectPhoneNumber")
    if len(phones) > 200:
        raise Rejected("LimitExceeded.PhoneNumberCountLimit")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Rejected("InvalidParameterValue.TemplateParameterFormatError")
    return body


def tencent_ok(body: dict[str, Any], *, serial: str | None = None) -> httpx.Response:
    return tencent_answer(body, serial=serial)


def tencent_answer(
    body: dict[str, Any], *, failed: dict[str, str] | None = None, serial: str | None = None
) -> httpx.Response:
    """A ``SendStatusSet`` entry per number: ``Ok``, or the code given for it in ``failed``."""
    failed = failed or {}
    return httpx.Response(
        200,
        json={
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": ""
                        if phone in failed
                        else serial or f"2028:{uuid.uuid4().hex[:20]}",
                        "PhoneNumber": phone,
                        "Fee": 0 if phone in failed else 1,
                        "SessionContext": body.get("SessionContext", ""),
                        "Code": failed.get(phone, "Ok"),
                        "Message": "failed" if phone in failed else "send success",
                        "IsoCode": "CN",
                    }
                    for phone in body["PhoneNumberSet"]
                ],
                "RequestId": str(uuid.uuid4()),
            }
        },
    )


def tencent_number_failed(body: dict[str, Any], code: str, message: str = "") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": "",
                        "PhoneNumber": body["PhoneNumberSet"][0],
                        "Fee": 0,
                        "SessionContext": body.get("SessionContext", ""),
                        "Code": code,
                        "Message": message,
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": str(uuid.uuid4()),
            }
        },
    )


@dataclass
class Sent:
    provider: str
    to: str
    body: dict[str, Any]
    request: httpx.Request


@dataclass
class Fakes:
    clock: Clock
    sent: list[Sent] = field(default_factory=list)
    scripts: dict[str, list[Behaviour]] = field(default_factory=dict)
    wechat_tokens: dict[str, str] = field(default_factory=dict)  # app id → current token
    wechat_token_calls: list[dict[str, Any]] = field(default_factory=list)
    grid_token_calls: int = 0
    grid_tokens: set[str] = field(default_factory=set)
    grid_people: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    grid_area_pages: list[list[dict[str, Any]]] | None = None
    grid_list_calls: int = 0
    grid_resolve_calls: int = 0
    grid_list_limits: list[int] = field(default_factory=list)
    grid_fail: bool = False
    aliyun_status: dict[str, tuple[int, str]] = field(default_factory=dict)  # OutId or number
    aliyun_queries: list[dict[str, str]] = field(default_factory=list)
    calls: list[tuple[str, int]] = field(default_factory=list)  # (provider, numbers) per call

    def reset(self) -> None:
        self.sent.clear()
        self.scripts.clear()
        self.wechat_tokens.clear()
        self.wechat_token_calls.clear()
        self.grid_token_calls = 0
        self.grid_tokens.clear()
        self.grid_people.clear()
        self.grid_area_pages = None
        self.grid_list_calls = 0
        self.grid_resolve_calls = 0
        self.grid_list_limits.clear()
        self.grid_fail = False
        self.aliyun_status.clear()
        self.aliyun_queries.clear()
        self.calls.clear()

    def script(self, provider: str, *behaviours: Behaviour) -> None:
        self.scripts.setdefault(provider, []).extend(behaviours)

    def sent_by(self, provider: str) -> list[Sent]:
        return [s for s in self.sent if s.provider == provider]

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def _scripted(self, provider: str, request: httpx.Request) -> httpx.Response | None:
        queue = self.scripts.get(provider)
        if not queue:
            return None
        result = queue.pop(0)(request)
        if isinstance(result, httpx.Response):
            return result
        return await result

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == ALIYUN_HOST:
            return await self._aliyun(request)
        if host == TENCENT_HOST:
            return await self._tencent(request)
        if host == WECHAT_HOST:
            return await self._wechat(request)
        if host == GRID_HOST:
            return self._grid(request)
        return httpx.Response(404)

    async def _aliyun(self, request: httpx.Request) -> httpx.Response:
        try:
            params = check_aliyun(request)
        except Rejected as exc:
            return httpx.Response(400, json={"Code": str(exc), "Message": "rejected"})
        if params["Action"] == "QuerySendDetails":
            return self._aliyun_query(params)
        if params["Action"] == "SendBatchSms":
            phones = json.loads(params["PhoneNumberJson"])
            values = json.loads(params.get("TemplateParamJson") or "null") or [None] * len(phones)
            signs = json.loads(params["SignNameJson"])
            for phone, sign, value in zip(phones, signs, values, strict=True):
                one = {**params, "PhoneNumbers": phone, "SignName": sign}
                one["TemplateParam"] = json.dumps(value or {}, ensure_ascii=False)
                self.sent.append(Sent("aliyun", phone, one, request))
        else:
            phones = [params["PhoneNumbers"]]
            self.sent.append(Sent("aliyun", params["PhoneNumbers"], params, request))
        self.calls.append(("aliyun", len(phones)))
        scripted = await self._scripted("aliyun", request)
        if scripted is not None:
            return scripted
        return httpx.Response(
            200,
            json={
                "Code": "OK",
                "Message": "OK",
                "BizId": f"{uuid.uuid4().int % 10**18}^0",
                "RequestId": str(uuid.uuid4()),
            },
        )

    def _aliyun_query(self, params: dict[str, str]) -> httpx.Response:
        """QuerySendDetails: what Alibaba took for this number (status per ``aliyun_status``,
        by default 3 = delivered)."""
        self.aliyun_queries.append(params)

        def status(s: Sent) -> tuple[int, str]:
            found = self.aliyun_status.get(s.body["OutId"]) or self.aliyun_status.get(s.to)
            return found or (3, "DELIVERED")

        details = [
            {
                "PhoneNum": s.to,
                "OutId": s.body["OutId"],
                "SendStatus": status(s)[0],
                "ErrCode": status(s)[1],
                "TemplateCode": s.body["TemplateCode"],
                "SendDate": "2026-11-23 10:00:00",
            }
            for s in self.sent_by("aliyun")
            if s.to == params["PhoneNumber"]
        ]
        return httpx.Response(
            200,
            json={
                "Code": "OK",
                "Message": "OK",
                "TotalCount": len(details),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details},
            },
        )

    async def _tencent(self, request: httpx.Request) -> httpx.Response:
        try:
            body = check_tencent(request)
        except Rejected as exc:
            return httpx.Response(
                200, json={"Response": {"Error": {"Code": str(exc), "Message": "rejected"}}}
            )
        for phone in body["PhoneNumberSet"]:
            self.sent.append(Sent("tencent", phone, body, request))
        self.calls.append(("tencent", len(body["PhoneNumberSet"])))
        scripted = await self._scripted("tencent", request)
        if scripted is not None:
            return scripted
        return tencent_ok(body)

    async def _wechat(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/cgi-bin/stable_token":
            body = json.loads(request.content)
            self.wechat_token_calls.append(body)
            secrets = {OA_APP: OA_SECRET, MP_APP: MP_SECRET}
            if body.get("grant_type") != "client_credential" or secrets.get(
                body.get("appid")
            ) != body.get("secret"):
                return httpx.Response(200, json={"errcode": 40013, "errmsg": "invalid appid"})
            if body.get("force_refresh") or body["appid"] not in self.wechat_tokens:
                self.wechat_tokens[body["appid"]] = f"token-{uuid.uuid4().hex}"
            return httpx.Response(
                200, json={"access_token": self.wechat_tokens[body["appid"]], "expires_in": 7200}
            )
        token = request.url.params.get("access_token")
        app = {"/cgi-bin/message/template/send": OA_APP, "/cgi-bin/message/subscribe/send": MP_APP}
        if path not in app:
            return httpx.Response(404)
        if token != self.wechat_tokens.get(app[path]):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        body = json.loads(request.content)
        if not body.get("touser") or not body.get("template_id") or "data" not in body:
            return httpx.Response(200, json={"errcode": 47003, "errmsg": "argument invalid"})
        provider = "wechat_oa" if app[path] == OA_APP else "wechat_mp"
        self.sent.append(Sent(provider, body["touser"], body, request))
        scripted = await self._scripted(provider, request)
        if scripted is not None:
            return scripted
        return httpx.Response(
            200, json={"errcode": 0, "errmsg": "ok", "msgid": uuid.uuid4().int % 10**12}
        )

    def _grid(self, request: httpx.Request) -> httpx.Response:
        if self.grid_fail:
            return httpx.Response(503)
        path = request.url.path
        if path == "/api/v1/auth/token":
            form = dict(parse_qsl(request.content.decode()))
            if form.get("grant_type") != "client_credentials" or (
                form.get("client_id"),
                form.get("client_secret"),
            ) != (GRID_CLIENT, GRID_SECRET):
                return httpx.Response(401, json={"error": "invalid_client"})
            if "recipients:read" not in form.get("scope", "").split():
                return httpx.Response(400, json={"error": "invalid_scope"})
            self.grid_token_calls += 1
            token = f"grid-{uuid.uuid4().hex}"
            self.grid_tokens.add(token)
            return httpx.Response(
                200, json={"access_token": token, "token_type": "Bearer", "expires_in": 900}
            )
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.grid_tokens:
            return httpx.Response(401)
        if path == "/api/v1/recipients/resolve":
            self.grid_resolve_calls += 1
            ids = json.loads(request.content)["account_ids"]
            items = [
                self.grid_people[uuid.UUID(i)] for i in ids if uuid.UUID(i) in self.grid_people
            ]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if path == "/api/v1/recipients":
            self.grid_list_calls += 1
            limit = int(request.url.params.get("limit", 20))
            if not 1 <= limit <= 1000:  # grid_service caps pages at 1000
                return httpx.Response(422, json={"code": "validation_failed"})
            self.grid_list_limits.append(limit)
            pages = self.grid_area_pages or [[]]
            index = int(request.url.params.get("cursor") or 0)
            nxt = str(index + 1) if index + 1 < len(pages) else None
            return httpx.Response(200, json={"items": pages[index], "next_cursor": nxt})
        return httpx.Response(404)


def person(
    phone: str | None = None,
    *,
    channels: list[str] | None = None,
    mp: str | None = None,
    oa: str | None = None,
    account_id: uuid.UUID | None = None,
    area_path: str = "330100.330106",
) -> dict[str, Any]:
    return {
        "account_id": str(account_id or uuid.uuid4()),
        "name": "张三",
        "phone": phone,
        "wechat_oa_openid": oa,
        "wechat_mp_openid": mp,
        "channels": channels or ["sms"],
        "timezone": "Asia/Shanghai",
        "area_path": area_path,
        "area_paths": [area_path],
    }
