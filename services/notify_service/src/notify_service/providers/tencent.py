"""Tencent Cloud SMS ``SendSms`` (API 2021-01-11), signed with TC3-HMAC-SHA256.

TC3 (Tencent Cloud API 3.0): canonical request = method, ``/``, empty query, the canonical
headers ``content-type`` and ``host``, the signed header names and the hex SHA-256 of the body;
string to sign = ``TC3-HMAC-SHA256``, the timestamp, ``<date>/<service>/tc3_request`` and the hex
SHA-256 of the canonical request; the key is derived
``HMAC("TC3"+SecretKey, date) → HMAC(·, service) → HMAC(·, "tc3_request")``.

HTTP 200 can still carry failed numbers: each number has its own entry in ``SendStatusSet``
with its own ``Code``. ``SessionContext`` carries our notification id (for a batch, the first
message's). ``PhoneNumberSet`` takes up to 200 numbers per call with one template and one
``TemplateParamSet``; ``SendStatusSet`` answers each number (matched on ``PhoneNumber``), so a
batch records a result, and a ``SerialNo``, per message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from notify_service.providers.base import OutboundMessage, Outcome, SendResult, to_e164
from notify_service.providers.http_errors import http_failure, transport_failure

API_VERSION = "2021-01-11"
MAX_BATCH = 200  # numbers per SendSms call
CONTENT_TYPE = "application/json; charset=utf-8"

RATE_LIMITS = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": timedelta(seconds=30),
    "LimitExceeded.PhoneNumberOneHourLimit": timedelta(hours=1),
    "LimitExceeded.PhoneNumberDailyLimit": timedelta(days=1),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": timedelta(days=1),
    "LimitExceeded.DeliveryFrequencyLimit": timedelta(minutes=1),
    "RequestLimitExceeded": timedelta(seconds=1),
}
OUTAGE_PREFIXES = ("AuthFailure.", "UnauthorizedOperation.")
OUTAGE_CODES = frozenset(
    {
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "FailedOperation.ContainDomesticAndInternationalPhoneNumber",
        "ResourceUnavailable",
    }
)
PERMANENT_CODES = frozenset(
    {
        "InvalidParameterValue.IncorrectPhoneNumber",
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.MissingTemplateToModify",
        "InvalidParameterValue.TemplateParameterFormatError",
        "InvalidParameterValue.TemplateParameterLengthLimit",
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        "FailedOperation.PhoneNumberParseFail",
        "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
    }
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: str,
    timestamp: int,
    content_type: str = CONTENT_TYPE,
    method: str = "POST",
) -> tuple[str, str]:
    """Return ``(Authorization header, signature hex)`` for one request."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            method,
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    header = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    return header, signature


def classify(code: str) -> Outcome:
    if code in RATE_LIMITS:
        return Outcome.rate_limited
    if code.startswith("InternalError") or code in {"FailedOperation.FailResolvePacket"}:
        return Outcome.transient
    if code in OUTAGE_CODES or code.startswith(OUTAGE_PREFIXES):
        return Outcome.outage
    if code in PERMANENT_CODES or code.startswith(("InvalidParameterValue.", "MissingParameter")):
        return Outcome.permanent
    return Outcome.transient


class TencentSmsProvider:
    name = "tencent"
    max_batch = MAX_BATCH

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        sms_sdk_app_id: str,
        region: str = "ap-guangzhou",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.sms_sdk_app_id = sms_sdk_app_id
        self.region = region
        self.host = urlsplit(endpoint).netloc
        self._clock = clock
        self._client = httpx.AsyncClient(
            base_url=endpoint, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def build_request(
        self, message: OutboundMessage, *more: OutboundMessage
    ) -> tuple[str, dict[str, str]]:
        """One request for ``message`` (and ``more``, sharing its template and parameters)."""
        if len(more) + 1 > MAX_BATCH:
            raise ValueError(f"SendSms takes up to {MAX_BATCH} numbers")
        if any(m.params != message.params for m in more):
            raise ValueError("one SendSms call sends one template with one parameter set")
        body = {
            "PhoneNumberSet": [to_e164(m.to) for m in (message, *more)],
            "SmsSdkAppId": self.sms_sdk_app_id,
            "SignName": str(message.params.get("sign_name", "")),
            "TemplateId": str(message.params.get("template_id", "")),
            "TemplateParamSet": [str(v) for v in message.params.get("params") or []],
            "SessionContext": message.notification_id,
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        timestamp = int(self._clock().timestamp())
        authorization, _ = tc3_authorization(
            secret_id=self.secret_id,
            secret_key=self._secret_key,
            service="sms",
            host=self.host,
            payload=payload,
            timestamp=timestamp,
        )
        headers = {
            "Authorization": authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        return payload, headers

    async def send(self, message: OutboundMessage) -> SendResult:
        return (await self.send_batch([message]))[0]

    async def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """One call for all ``messages``; a result per number from ``SendStatusSet``."""
        payload, headers = self.build_request(*messages)
        try:
            response = await self._client.post("/", content=payload.encode(), headers=headers)
        except httpx.TransportError as exc:
            return _whole_call(transport_failure(exc), len(messages))
        failure = http_failure(response)
        if failure is not None:
            return _whole_call(failure, len(messages))
        try:
            body = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            invalid = SendResult(Outcome.transient, code="invalid_response", detail=response.text)
            return _whole_call(invalid, len(messages))
        error = body.get("Error")
        if error:
            code = str(error.get("Code", ""))
            outcome = classify(code)
            result = SendResult(
                outcome,
                code=code,
                detail=str(error.get("Message", ""))[:300],
                retry_after=RATE_LIMITS.get(code),
            )
            return _whole_call(result, len(messages))
        statuses = body.get("SendStatusSet") or []
        if not statuses:
            return _whole_call(
                SendResult(Outcome.transient, code="empty_send_status_set"), len(messages)
            )
        if len(messages) == 1 and len(statuses) == 1:
            return [_number_result(statuses[0])]
        by_number = {str(s.get("PhoneNumber", "")): s for s in statuses}
        results = []
        for m in messages:
            status = by_number.get(to_e164(m.to))
            if status is None:  # the call was taken but this number not answered: unsure
                results.append(SendResult(Outcome.ambiguous, code="missing_send_status"))
            else:
                results.append(_number_result(status))
        return results


def _whole_call(result: SendResult, count: int) -> list[SendResult]:
    """The call's own answer, for each of its messages (nothing was sent, or it is unsure)."""
    return [replace(result, extra={"whole_call": True}) for _ in range(count)]


def _number_result(status: dict[str, Any]) -> SendResult:
    code = str(status.get("Code", ""))
    if code == "Ok":
        return SendResult(Outcome.accepted, provider_message_id=status.get("SerialNo"), code=code)
    return SendResult(
        classify(code),
        code=code,
        detail=str(status.get("Message", ""))[:300],
        retry_after=RATE_LIMITS.get(code),
    )
