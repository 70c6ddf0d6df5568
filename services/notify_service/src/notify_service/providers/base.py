"""What every provider adapter takes and returns, and how outcomes are classified.

Adapters are written on httpx (async) rather than the vendors' SDKs: the SDKs are large,
synchronous (they would block the event loop or need a thread per call) and hide the error
codes we classify. Each adapter turns the provider's answer into one :class:`SendResult`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Outcome(StrEnum):
    accepted = "accepted"  # the provider took it; a receipt may follow
    delivered = "delivered"  # delivered on the spot (inbox, console)
    transient = "transient"  # retry later with backoff (network, 5xx, isp.SYSTEM_ERROR, -1)
    outage = "outage"  # the provider is down or our account is: fail over to the next one
    permanent = "permanent"  # bad number, bad template, blacklist, 43101: next channel or fail
    rate_limited = "rate_limited"  # per-number or per-app limits: defer, do not retry at once
    ambiguous = "ambiguous"  # may or may not have been sent (timeout): wait for a receipt


@dataclass(frozen=True)
class OutboundMessage:
    """One message, rendered for one channel and provider."""

    notification_id: str
    channel: str
    to: str  # phone number or openid
    params: dict[str, Any]  # the provider's template id and parameter shape
    text: str  # the rendered body (console and logs)
    title: str


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_message_id: str | None = None
    code: str | None = None
    detail: str | None = None
    retry_after: timedelta | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class QueryStatus(StrEnum):
    """What a provider's query API says about a message we are unsure of."""

    delivered = "delivered"
    failed = "failed"
    pending = "pending"  # the provider has it, the carrier has not reported yet
    not_found = "not_found"  # the provider never received it: safe to send again
    error = "error"  # the query itself failed: ask again later


@dataclass(frozen=True)
class QueryResult:
    status: QueryStatus
    code: str | None = None
    provider_message_id: str | None = None


class Provider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchProvider(Provider, Protocol):
    """A provider that sends one template with the same parameters to many numbers per call.

    ``send_batch`` takes up to ``max_batch`` messages with identical ``params`` and distinct
    ``to`` and returns one result per message, in order. A result with ``extra["whole_call"]``
    is the call's own answer (the provider rejected the whole request: nothing was sent).
    """

    max_batch: int

    async def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]: ...


class QueryableProvider(Provider, Protocol):
    """A provider with a query API for messages whose send result was lost.

    ``reference`` is the ``provider_message_id`` recorded for the send (for a batch send it
    names the call, which is how the provider's records are matched to the number).
    """

    async def query(
        self, *, to: str, notification_id: str, sent_at: datetime, reference: str | None = None
    ) -> QueryResult: ...


_PHONE_DIGITS = re.compile(r"\d")


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; never log a full number."""
    if not phone:
        return ""
    digits = "".join(_PHONE_DIGITS.findall(phone))
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[-11:-8] if len(digits) >= 11 else digits[:3]}****{digits[-4:]}"


def mask_openid(openid: str | None) -> str:
    if not openid:
        return ""
    return openid[:4] + "…" + openid[-2:] if len(openid) > 8 else "…"


def render(text: str, variables: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders (the variables were validated before)."""
    return text.format_map(variables)


def render_params(value: Any, variables: dict[str, str]) -> Any:
    """Render every string inside a provider parameter shape."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, list):
        return [render_params(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_params(v, variables) for k, v in value.items()}
    return value


def to_e164(phone: str) -> str:
    """An 11-digit mainland number becomes ``+86…``; an E.164 number is kept."""
    phone = phone.strip()
    if phone.startswith("+"):
        return phone
    if len(phone) == 11 and phone.isdigit():
        return "+86" + phone
    return phone


def to_mainland(phone: str) -> str:
    """Alibaba wants mainland numbers without ``+86`` (others with their country code)."""
    phone = phone.strip()
    if phone.startswith("+86"):
        return phone[3:]
    if phone.startswith("+"):
        return "00" + phone[1:]
    return phone
