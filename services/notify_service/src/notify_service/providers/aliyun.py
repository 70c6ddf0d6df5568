"""Alibaba Cloud SMS ``SendSms`` (API version 2017-05-25) over its RPC signature.

Signature (RPC style, HMAC-SHA1): sort the parameters, percent-encode keys and values
(RFC 3986: space → ``%20``, ``*`` → ``%2A``, ``~`` kept), join them with ``&`` and ``=``, then
``StringToSign = METHOD + "&" + enc("/") + "&" + enc(query)`` and
``Signature = base64(hmac_sha1(secret + "&", StringToSign))``.
``TemplateParam`` is a JSON object of strings; ``OutId`` carries our notification id so the
SmsReport receipt names it. A ``Code`` other than ``OK`` is a failure and its code is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from notify_service.providers.base import (
    OutboundMessage,
    Outcome,
    QueryResult,
    QueryStatus,
    SendResult,
    to_mainland,
)
from notify_service.providers.http_errors import http_failure, transport_failure

API_VERSION = "2017-05-25"
CHINA = ZoneInfo("Asia/Shanghai")

TRANSIENT_CODES = frozenset({"isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "InternalError"})
OUTAGE_CODES = frozenset(
    {
        "isv.OUT_OF_SERVICE",  # 业务停机 (account suspended)
        "isv.AMOUNT_NOT_ENOUGH",  # 账户余额不足
        "isv.ACCOUNT_ABNORMAL",
        "isv.ACCOUNT_NOT_EXISTS",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "isp.RAM_PERMISSION_DENY",
    }
)
RATE_LIMIT_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "Throttling.User"}
)
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",  # blacklisted number or keyword
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_CONTENT_ILLEGAL",
    }
)


@lru_cache(maxsize=4096)
def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba wants it (cached: most keys and values repeat)."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def _sign(secret: str, method: str, canonical: str) -> str:
    to_sign = f"{method.upper()}&{percent_encode('/')}&{quote(canonical, safe='~')}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def rpc_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    return _sign(secret, method, canonical_query(params))


def rate_limit_delay(code: str, message: str) -> timedelta:
    """Alibaba's flow control names its window in the message (分钟级/小时级/天级)."""
    if code == "Throttling.User":
        return timedelta(seconds=1)
    if code == "isv.DAY_LIMIT_CONTROL" or "天级" in message:
        return timedelta(days=1)
    if "小时级" in message:
        return timedelta(hours=1)
    return timedelta(minutes=1)


def classify(code: str, message: str) -> Outcome:
    if code in TRANSIENT_CODES or code.startswith("isp."):
        return Outcome.transient
    if code in OUTAGE_CODES:
        return Outcome.outage
    if code in RATE_LIMIT_CODES:
        return Outcome.rate_limited
    if code in PERMANENT_CODES:
        return Outcome.permanent
    return Outcome.transient  # unknown: bounded retries, then dead letter with the code


class AliyunSmsProvider:
    name = "aliyun"

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        region_id: str = "cn-hangzhou",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.region_id = region_id
        self._clock = clock
        self._client = httpx.AsyncClient(
            base_url=endpoint, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _common(self, action: str) -> dict[str, str]:
        return {
            "AccessKeyId": self.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": self.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }

    def _signed(self, params: dict[str, str]) -> bytes:
        canonical = canonical_query(params)
        signature = _sign(self._secret, "POST", canonical)
        return f"{canonical}&Signature={quote(signature, safe='~')}".encode()

    async def query(self, *, to: str, notification_id: str, sent_at: datetime) -> QueryResult:
        """``QuerySendDetails`` for one number and day, matched on ``OutId`` (our id).

        Asked when a send timed out and no receipt came: ``not_found`` means Alibaba never
        took the message, so it may be sent again without sending it twice.
        """
        params = self._common("QuerySendDetails")
        params.update(
            PhoneNumber=to_mainland(to),
            SendDate=sent_at.astimezone(CHINA).strftime("%Y%m%d"),
            PageSize="50",
            CurrentPage="1",
        )
        try:
            response = await self._client.post(
                "/",
                content=self._signed(params),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            body = response.json()
        except (httpx.TransportError, ValueError):
            return QueryResult(QueryStatus.error, code="query_failed")
        if response.status_code != 200 or body.get("Code") != "OK":
            return QueryResult(QueryStatus.error, code=str(body.get("Code", "query_failed")))
        details = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        for detail in details:
            if detail.get("OutId") != notification_id:
                continue
            status = int(detail.get("SendStatus", 1))
            code = str(detail.get("ErrCode") or "")
            if status == 3:
                return QueryResult(QueryStatus.delivered, code=code or "DELIVERED")
            if status == 2:
                return QueryResult(QueryStatus.failed, code=code or "failed")
            return QueryResult(QueryStatus.pending, code=code or None)
        return QueryResult(QueryStatus.not_found)

    def signed_body(self, message: OutboundMessage) -> bytes:
        """The form body: the canonical query (already RFC 3986-encoded) plus ``Signature``."""
        return self._signed(self.unsigned_params(message))

    def signed_params(self, message: OutboundMessage) -> dict[str, str]:
        params = self.unsigned_params(message)
        params["Signature"] = rpc_signature(self._secret, "POST", params)
        return params

    def unsigned_params(self, message: OutboundMessage) -> dict[str, str]:
        template_param = {k: str(v) for k, v in (message.params.get("params") or {}).items()}
        params = self._common("SendSms")
        params.update(
            OutId=message.notification_id,
            PhoneNumbers=to_mainland(message.to),
            SignName=str(message.params.get("sign_name", "")),
            TemplateCode=str(message.params.get("template_code", "")),
            TemplateParam=json.dumps(template_param, ensure_ascii=False, separators=(",", ":")),
        )
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        body = self.signed_body(message)
        try:
            response = await self._client.post(
                "/", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        except httpx.TransportError as exc:
            return transport_failure(exc)
        failure = http_failure(response)
        if failure is not None:
            return failure
        try:
            body = response.json()
        except ValueError:
            return SendResult(Outcome.transient, code="invalid_response", detail=response.text)
        code = str(body.get("Code", ""))
        text = str(body.get("Message", ""))
        if code == "OK":
            return SendResult(Outcome.accepted, provider_message_id=body.get("BizId"), code=code)
        outcome = classify(code, text)
        return SendResult(
            outcome,
            code=code or f"http.{response.status_code}",
            detail=text[:300],
            retry_after=rate_limit_delay(code, text) if outcome is Outcome.rate_limited else None,
        )
