"""Alibaba Cloud SMS ``SendSms`` (API version 2017-05-25) over its RPC signature.

Signature (RPC style, HMAC-SHA1): sort the parameters, percent-encode keys and values
(RFC 3986: space → ``%20``, ``*`` → ``%2A``, ``~`` kept), join them with ``&`` and ``=``, then
``StringToSign = METHOD + "&" + enc("/") + "&" + enc(query)`` and
``Signature = base64(hmac_sha1(secret + "&", StringToSign))``.
``TemplateParam`` is a JSON object of strings; ``OutId`` carries our notification id so the
SmsReport receipt names it. A ``Code`` other than ``OK`` is a failure and its code is kept.

``SendBatchSms`` (same signature) sends one template to up to 100 numbers: ``PhoneNumberJson``,
``SignNameJson`` and ``TemplateParamJson`` are JSON arrays of the same length, one entry per
number, and ``TemplateCode`` is shared. The call has one ``OutId`` and returns one ``BizId``;
whether each number was delivered comes from its SmsReport (``phone_number`` + ``biz_id`` +
``out_id``) or from ``QuerySendDetails`` by number and day. So a batch call gets its own
``OutId`` (``batch-<hex>``) and each number's message is referred to as
``batch-<hex>:<number>`` (:func:`batch_reference`): unique per message, known before the
call (a call that times out can still be settled number by number), and rebuilt from a
receipt (:func:`receipt_reference`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
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
MAX_BATCH = 100  # SendBatchSms: numbers per call
BATCH_PREFIX = "batch-"
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


def batch_reference(out_id: str, phone: str) -> str:
    """Our reference for one number of a ``SendBatchSms`` call."""
    return f"{out_id}:{to_mainland(phone)}"


def receipt_reference(*, biz_id: str, phone_number: str, out_id: str | None) -> str:
    """The ``provider_message_id`` an SmsReport refers to: the BizId of a single send, the
    batch reference (call + number) of a batch send."""
    if out_id and out_id.startswith(BATCH_PREFIX):
        return batch_reference(out_id, phone_number)
    return biz_id


def _template_param(message: OutboundMessage) -> dict[str, str]:
    return {k: str(v) for k, v in (message.params.get("params") or {}).items()}


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class AliyunSmsProvider:
    name = "aliyun"
    max_batch = MAX_BATCH

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

    async def query(
        self, *, to: str, notification_id: str, sent_at: datetime, reference: str | None = None
    ) -> QueryResult:
        """``QuerySendDetails`` for one number and day, matched on ``OutId`` (our id, or the
        batch call's ``OutId`` for a batch send).

        Asked when a send timed out and no receipt came: ``not_found`` means Alibaba never
        took the message, so it may be sent again without sending it twice.
        """
        out_id = notification_id
        if reference and reference.startswith(BATCH_PREFIX):
            out_id = reference.rsplit(":", 1)[0]
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
            if detail.get("OutId") != out_id:
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
        params = self._common("SendSms")
        params.update(
            OutId=message.notification_id,
            PhoneNumbers=to_mainland(message.to),
            SignName=str(message.params.get("sign_name", "")),
            TemplateCode=str(message.params.get("template_code", "")),
            TemplateParam=_dumps(_template_param(message)),
        )
        return params

    def batch_params(self, messages: list[OutboundMessage], out_id: str) -> dict[str, str]:
        """``SendBatchSms`` parameters: the arrays aligned, one entry per message."""
        if not 1 <= len(messages) <= MAX_BATCH:
            raise ValueError(f"SendBatchSms takes 1 to {MAX_BATCH} numbers")
        codes = {str(m.params.get("template_code", "")) for m in messages}
        if len(codes) != 1:
            raise ValueError("SendBatchSms sends one template")
        params = self._common("SendBatchSms")
        params.update(
            OutId=out_id,
            PhoneNumberJson=_dumps([to_mainland(m.to) for m in messages]),
            SignNameJson=_dumps([str(m.params.get("sign_name", "")) for m in messages]),
            TemplateCode=codes.pop(),
            TemplateParamJson=_dumps([_template_param(m) for m in messages]),
        )
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        return await self._call(self.signed_body(message))

    async def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """One ``SendBatchSms`` call; each message gets its batch reference, accepted or not
        (a call that timed out is settled number by number with it)."""
        out_id = BATCH_PREFIX + uuid.uuid4().hex
        result = await self._call(self._signed(self.batch_params(messages, out_id)))
        refs = [batch_reference(out_id, m.to) for m in messages]
        if result.outcome in (Outcome.accepted, Outcome.ambiguous):
            extra = {"biz_id": result.provider_message_id} if result.provider_message_id else {}
            return [replace(result, provider_message_id=ref, extra=extra) for ref in refs]
        # rejected as a whole: nothing was sent
        return [replace(result, extra={"whole_call": True}) for _ in messages]

    async def _call(self, body: bytes) -> SendResult:
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
            answer = response.json()
        except ValueError:
            return SendResult(Outcome.transient, code="invalid_response", detail=response.text)
        code = str(answer.get("Code", ""))
        text = str(answer.get("Message", ""))
        if code == "OK":
            return SendResult(Outcome.accepted, provider_message_id=answer.get("BizId"), code=code)
        outcome = classify(code, text)
        return SendResult(
            outcome,
            code=code or f"http.{response.status_code}",
            detail=text[:300],
            retry_after=rate_limit_delay(code, text) if outcome is Outcome.rate_limited else None,
        )
