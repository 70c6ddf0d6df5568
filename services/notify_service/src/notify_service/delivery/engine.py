"""Delivery: claim due notifications, plan each, send outside any transaction, record.

One batch (:func:`process_batch`) is:

1. a short transaction that turns expired claims into ``unconfirmed`` (a worker died mid-send:
   never re-sent blindly), dead-letters ``unconfirmed`` messages whose receipt never came,
   lands receipts that were waiting for their message, and claims due messages with
   ``FOR UPDATE SKIP LOCKED`` (critical first) — then commits;
2. recipient lookup at grid_service for accounts not yet resolved (no transaction open);
3. a short read of recent SMS to the same numbers (frequency caps);
4. planning: channel choice and fallback, quiet hours, frequency caps, template rendering;
5. provider calls, concurrently, with no transaction open — identical SMS to many numbers in
   one batch call per provider batch (:func:`_groups`), each message keeping its own result;
6. one transaction recording every outcome, its history row, inbox items and any receipt that
   arrived before the send result.

Tests drive it deterministically with an injected clock and random generator.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_service.clients.grid import GridClient
from notify_service.config import Settings
from notify_service.delivery.policy import backoff, cap_until, quiet_until
from notify_service.inbox.models import InboxItem
from notify_service.notifications import repository as repo
from notify_service.notifications import service as notifications
from notify_service.notifications.models import Notification, NotificationStatus, Priority
from notify_service.providers.base import (
    BatchProvider,
    OutboundMessage,
    Outcome,
    Provider,
    QueryResult,
    QueryStatus,
    SendResult,
    render,
    render_params,
    to_e164,
)
from notify_service.providers.registry import Providers
from notify_service.templates import repository as templates_repo
from notify_service.templates.models import MessageTemplate
from shared.contracts.recipients import Channel, RecipientRead
from shared.logging import get_logger
from shared.metrics import count_delivery_events
from shared.problem import AppError

log = get_logger(__name__)

PROVIDER_KEY = {"aliyun": "aliyun", "tencent": "tencent", "wechat": "wechat", "console": None}


@dataclass
class DeliveryContext:
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    providers: Providers
    grid: GridClient
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)
    send_concurrency: int = 50
    housekeeping_every: timedelta = timedelta(seconds=10)
    last_housekeeping: datetime | None = None

    def housekeeping_due(self, now: datetime) -> bool:
        """At most every ``housekeeping_every`` of the (injectable) clock."""
        last = self.last_housekeeping
        if last is None or now < last or now - last >= self.housekeeping_every:
            self.last_housekeeping = now
            return True
        return False

    @property
    def caps(self) -> list[tuple[timedelta, int]]:
        s = self.settings
        return [
            (timedelta(minutes=1), s.sms_cap_per_minute),
            (timedelta(hours=1), s.sms_cap_per_hour),
            (timedelta(days=1), s.sms_cap_per_day),
        ]


@dataclass
class Work:
    """One claimed notification and what happens to it in this batch."""

    n: Notification  # detached snapshot, read-only
    values: dict[str, Any]  # column values to write back
    events: list[dict[str, Any]] = field(default_factory=list)
    message: OutboundMessage | None = None
    provider: Provider | None = None
    inbox: dict[str, Any] | None = None
    result: SendResult | None = None

    def set(self, **values: Any) -> None:
        self.values.update(values)

    def log(self, status: str, now: datetime, **kw: Any) -> None:
        self.events.append(notifications.event(self.n.id, status, now, **kw))


WRITE_COLUMNS = (
    "status",
    "next_attempt_at",
    "claimed_until",
    "attempts",
    "channels",
    "channel_index",
    "channel",
    "provider",
    "provider_index",
    "recipient_resolved",
    "phone",
    "wechat_oa_openid",
    "wechat_mp_openid",
    "timezone",
    "provider_message_id",
    "sent_at",
    "delivered_at",
    "last_error_code",
    "last_error_detail",
)


def _snapshot(n: Notification, now: datetime) -> dict[str, Any]:
    values = {c: getattr(n, c) for c in WRITE_COLUMNS}
    values.update(id=n.id, updated_at=now, claimed_until=None)
    return values


CONTACT_COLUMN = {
    Channel.sms: "phone",
    Channel.wechat_oa: "wechat_oa_openid",
    Channel.wechat_mp: "wechat_mp_openid",
}


def _contact(values: dict[str, Any], channel: str) -> str | None:
    column = CONTACT_COLUMN.get(Channel(channel))
    value = values.get(column) if column else None
    return str(value) if value else None


async def process_batch(ctx: DeliveryContext, *, limit: int | None = None) -> int:
    """Deliver one batch of due notifications; return how many were claimed."""
    settings = ctx.settings
    now = ctx.clock()
    limit = limit or settings.worker_batch_size
    if ctx.housekeeping_due(now):
        async with ctx.sessionmaker() as session, session.begin():
            await _housekeeping(session, ctx, now)
        await _settle_unconfirmed(ctx, now)
    async with ctx.sessionmaker() as session, session.begin():
        claimed = await repo.claim_due(
            session,
            now=now,
            lease_until=now + timedelta(seconds=settings.claim_lease_seconds),
            limit=limit,
        )
        templates = await templates_repo.for_keys(session, {n.template_key for n in claimed})
    if not claimed:
        return 0
    work = [Work(n=n, values=_snapshot(n, now)) for n in claimed]
    try:
        await _prepare(ctx, work, templates, now)
    except BaseException:
        # nothing was sent yet: give the claims back instead of letting them expire
        await _release(ctx, [n.id for n in claimed], now)
        raise

    semaphore = asyncio.Semaphore(ctx.send_concurrency)
    await asyncio.gather(*(_send_group(group, semaphore) for group in _groups(work)))
    done = ctx.clock()
    for w in work:
        if w.result is not None:
            _apply_result(ctx, w, w.result, done)
    await _record(ctx, work, done)
    return len(claimed)


#: Rate limits of the whole account or API (not of one number in the batch): splitting the
#: batch into single calls would only fire more calls into the same throttle, so each message
#: of the batch is deferred instead.
ACCOUNT_LIMITS = frozenset({"Throttling.User", "RequestLimitExceeded"})


def _groups(work: list[Work]) -> list[list[Work]]:
    """Planned messages in provider calls: identical SMS (same provider, sign, template and
    parameters, distinct numbers — a broadcast, or any identical sends) together, up to the
    provider's batch size; everything else alone."""
    groups: list[list[Work]] = []
    open_groups: dict[tuple[str, str], list[tuple[list[Work], set[str]]]] = {}
    batchable: dict[int, bool] = {}  # per provider (a Protocol isinstance check is slow)
    for w in work:
        m, provider = w.message, w.provider
        if m is None or provider is None:
            continue
        can = batchable.get(id(provider))
        if can is None:
            can = batchable[id(provider)] = isinstance(provider, BatchProvider)
        if m.channel != Channel.sms or not can:
            groups.append([w])
            continue
        key = (provider.name, json.dumps(m.params, sort_keys=True, ensure_ascii=False))
        candidates = open_groups.setdefault(key, [])
        limit = provider.max_batch  # type: ignore[attr-defined]
        number = to_e164(m.to)  # 138… and +86138… are one phone: once per call
        for group, numbers in candidates:
            if len(group) < limit and number not in numbers:
                group.append(w)
                numbers.add(number)
                break
        else:
            candidates.append(([w], {number}))
            groups.append(candidates[-1][0])
    return groups


async def _send_group(group: list[Work], semaphore: asyncio.Semaphore) -> None:
    """One provider call for the group; a batch the provider refused as a whole for a reason
    that may be one number's (bad number, per-number limit) is sent again one by one —
    nothing of it was sent."""
    provider = group[0].provider
    assert provider is not None
    messages = [w.message for w in group if w.message is not None]
    async with semaphore:
        try:
            if len(group) == 1:
                results = [await provider.send(messages[0])]
            else:
                assert isinstance(provider, BatchProvider)
                results = await provider.send_batch(messages)
        except Exception as exc:  # an adapter bug must not lose the batch
            log.error("provider_crashed", provider=provider.name, exc_info=exc)
            results = [SendResult(Outcome.ambiguous, code="provider_crashed") for _ in group]
    first = results[0]
    if (
        len(group) > 1
        and first.extra.get("whole_call")
        and (
            first.outcome is Outcome.permanent
            or (first.outcome is Outcome.rate_limited and first.code not in ACCOUNT_LIMITS)
        )
    ):
        log.info("batch_split", provider=provider.name, size=len(group), code=first.code)
        await asyncio.gather(*(_send_group([w], semaphore) for w in group))
        return
    for w, result in zip(group, results, strict=True):
        w.result = result


async def _prepare(
    ctx: DeliveryContext,
    work: list[Work],
    templates: dict[tuple[str, str, str], MessageTemplate],
    now: datetime,
) -> None:
    await _resolve_recipients(ctx, work, now)
    phones = [
        w.values["phone"]
        for w in work
        if w.values["phone"] and w.n.priority != Priority.critical  # critical: no caps
    ]
    if not phones:
        for w in work:
            if w.values["status"] == NotificationStatus.sending:
                _plan(ctx, w, templates, {}, now)
        sms = _sms_providers(work)
        if sms:  # critical SMS: no caps to reserve, but the provider is noted before the send
            async with ctx.sessionmaker() as session, session.begin():
                await repo.reserve_sms(session, providers=sms, at=now)
        return
    # Frequency caps across workers and replicas: the numbers are locked (advisory, for this
    # short transaction), their recent sends read, the batch planned, and each SMS about to
    # go out reserved (``sent_at``) before the locks are released — another worker planning
    # the same number waits and then counts this send.
    async with ctx.sessionmaker() as session, session.begin():
        await repo.lock_numbers(session, phones)
        recent = await repo.sms_sent_since(session, phones=phones, since=now - timedelta(days=1))
        for w in work:
            if w.values["status"] == NotificationStatus.sending:
                _plan(ctx, w, templates, recent, now)
        await repo.reserve_sms(session, providers=_sms_providers(work), at=now)


def _sms_providers(work: list[Work]) -> dict[uuid.UUID, str]:
    return {
        w.n.id: w.provider.name
        for w in work
        if w.message is not None and w.message.channel == "sms" and w.provider is not None
    }


async def _release(ctx: DeliveryContext, ids: list[uuid.UUID], now: datetime) -> None:
    N = Notification.__table__  # type: ignore[attr-defined]
    try:
        async with ctx.sessionmaker() as session, session.begin():
            await session.execute(
                sa.update(N)
                .where(N.c.id.in_(ids), N.c.status == NotificationStatus.sending)
                .values(
                    status=NotificationStatus.queued,
                    claimed_until=None,
                    next_attempt_at=now + timedelta(seconds=30),
                    updated_at=now,
                )
            )
    except Exception as exc:  # the claims will expire and be settled instead
        log.error("release_failed", exc_info=exc)


async def _housekeeping(session: AsyncSession, ctx: DeliveryContext, now: datetime) -> None:
    wait_until = now + timedelta(seconds=ctx.settings.receipt_wait_seconds)
    stale = await repo.release_stale_claims(session, now=now, wait_until=wait_until)
    await repo.add_events(
        session,
        [
            notifications.event(i, NotificationStatus.unconfirmed, now, code="claim_expired")
            for i in stale
        ],
    )
    if stale:
        log.warning("claims_expired", count=len(stale))
    pending = await repo.matchable_pending_receipts(session, limit=500)
    if pending:
        await notifications.land_pending_receipts(session, pending, now)


async def _settle_unconfirmed(ctx: DeliveryContext, now: datetime) -> None:
    """Settle ambiguous sends whose receipt never came, through the provider's query API.

    Delivered or failed → recorded; not found (the provider never took it) → queued to be
    sent again; still pending or the query failed → asked again later, and dead-lettered
    (``no_receipt``) once twice the receipt wait has passed. Providers without a query API
    dead-letter at once: an ambiguous send is never repeated blindly.
    """
    wait = timedelta(seconds=ctx.settings.receipt_wait_seconds)
    async with ctx.sessionmaker() as session, session.begin():
        rows = await repo.claim_unconfirmed(
            session,
            now=now,
            lease_until=now + timedelta(seconds=ctx.settings.claim_lease_seconds),
            limit=100,
        )
    if not rows:
        return
    answers: dict[uuid.UUID, QueryResult | None] = {}
    for n in rows:  # no transaction open during the provider calls
        provider = ctx.providers.by_name.get(n.provider or "")
        query = getattr(provider, "query", None)
        if query is None or not n.phone or n.channel != Channel.sms:
            answers[n.id] = None
            continue
        answers[n.id] = await query(
            to=n.phone,
            notification_id=str(n.id),
            sent_at=n.sent_at or n.updated_at,
            reference=n.provider_message_id,
        )
    settled: list[dict[str, Any]] = []
    async with ctx.sessionmaker() as session, session.begin():
        for snapshot in rows:
            locked = await repo.get_for_update(session, snapshot.id)
            if locked is None or locked.status != NotificationStatus.unconfirmed:
                continue  # a receipt landed meanwhile
            events = _settle(locked, answers[locked.id], now, wait)
            locked.updated_at = now
            await repo.add_events(session, events)
            settled += events
        await session.flush()
    count_delivery_events(settled)


def _settle(
    n: Notification, answer: QueryResult | None, now: datetime, wait: timedelta
) -> list[dict[str, Any]]:
    ev = notifications.event
    where = {"channel": n.channel, "provider": n.provider}
    if answer is not None and answer.status is QueryStatus.delivered:
        n.status = NotificationStatus.delivered
        n.delivered_at = now
        return [ev(n.id, n.status, now, code=answer.code, detail="by query", **where)]
    if answer is not None and answer.status is QueryStatus.failed:
        n.last_error_code = answer.code
        if n.channel_index + 1 < len(n.channels):
            n.channel_index += 1
            n.provider_index = 0
            n.status = NotificationStatus.queued
            n.next_attempt_at = now
            return [ev(n.id, "fallback", now, code=answer.code, **where)]
        n.status = NotificationStatus.failed
        return [ev(n.id, n.status, now, code=answer.code, **where)]
    if answer is not None and answer.status is QueryStatus.not_found:
        n.status = NotificationStatus.queued
        n.next_attempt_at = now
        n.sent_at = None
        n.last_error_code = "not_received_by_provider"
        return [ev(n.id, "requeued", now, code=n.last_error_code, **where)]
    since = now - (n.sent_at or n.updated_at)
    if answer is not None and since < 2 * wait:
        n.next_attempt_at = now + wait / 2  # pending, or the query failed: ask again later
        return []
    n.status = NotificationStatus.dead
    n.last_error_code = "no_receipt"
    n.last_error_detail = "the send timed out and no delivery receipt arrived"
    return [ev(n.id, n.status, now, code="no_receipt", **where)]


async def _resolve_recipients(ctx: DeliveryContext, work: list[Work], now: datetime) -> None:
    need = [w for w in work if w.n.recipient_account_id is not None and not w.n.recipient_resolved]
    if not need:
        return
    try:
        found = await ctx.grid.resolve([w.n.recipient_account_id for w in need])  # type: ignore[misc]
    except AppError as exc:
        for w in need:
            _transient(ctx, w, SendResult(Outcome.transient, code=exc.instance_code), now)
        return
    for w in need:
        recipient = found.get(w.n.recipient_account_id)  # type: ignore[arg-type]
        if recipient is None:
            w.set(status=NotificationStatus.failed, last_error_code="recipient_unknown")
            w.log(NotificationStatus.failed, now, code="recipient_unknown")
            continue
        _fill_contacts(w, recipient)


def _fill_contacts(w: Work, r: RecipientRead) -> None:
    channels = w.values["channels"] or [str(c) for c in r.channels]
    w.set(
        recipient_resolved=True,
        phone=r.phone,
        wechat_oa_openid=r.wechat_oa_openid,
        wechat_mp_openid=r.wechat_mp_openid,
        timezone=r.timezone or "Asia/Shanghai",
        channels=channels,
    )


def _inbox_item(n: Notification, template: MessageTemplate, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "account_id": n.recipient_account_id,
        "notification_id": n.id,
        "template_key": n.template_key,
        "title": render(template.title, n.variables),
        "body": render(template.body, n.variables),
        "created_at": now,
        "read_at": None,
    }


def _plan(
    ctx: DeliveryContext,
    w: Work,
    templates: dict[tuple[str, str, str], MessageTemplate],
    recent: dict[str, list[datetime]],
    now: datetime,
) -> None:
    """Choose channel and provider, apply quiet hours and caps, render the message."""
    s = ctx.settings
    v = w.values
    n = w.n
    critical = n.priority == Priority.critical
    channels: list[str] = v["channels"]
    while v["channel_index"] < len(channels):
        channel = channels[v["channel_index"]]
        template = templates.get((n.template_key, channel, n.locale))
        to = _contact(v, channel)
        skip = None
        if template is None:
            skip = "no_template"
        elif channel == Channel.inbox:
            if n.recipient_account_id is None:
                skip = "no_contact"
        elif not to:
            skip = "no_contact"
        if skip is None:
            break
        w.log("skipped", now, channel=channel, code=skip)
        v["channel_index"] += 1
        v["provider_index"] = 0
    else:
        v.update(status=NotificationStatus.failed, last_error_code="no_channel")
        w.log(NotificationStatus.failed, now, code="no_channel")
        return
    assert template is not None
    v["channel"] = channel
    if n.recipient_account_id is not None:
        # every message to an account is also an item of its in-app inbox, whichever channel
        # carries it (the inbox wording if there is one; stored once per notification)
        inbox_template = templates.get((n.template_key, Channel.inbox, n.locale)) or template
        try:
            w.inbox = _inbox_item(n, inbox_template, now)
        except (KeyError, IndexError, ValueError) as exc:
            if channel == Channel.inbox:
                _permanent(
                    w,
                    SendResult(Outcome.permanent, code="template_render_failed", detail=str(exc)),
                    now,
                )
                return
    if channel == Channel.inbox:
        v.update(
            status=NotificationStatus.delivered, sent_at=now, delivered_at=now, provider="inbox"
        )
        w.log(NotificationStatus.delivered, now, channel=channel, provider="inbox")
        return
    if not critical:
        until = quiet_until(now, v["timezone"], s.quiet_hours_start, s.quiet_hours_end)
        if until is not None:
            _defer(w, until, "quiet_hours", now)
            return
        if channel == Channel.sms:
            sent = recent.setdefault(to or "", [])
            until = cap_until(sent, now, ctx.caps)
            if until is not None:
                _defer(w, until, "frequency_cap", now)
                return
    providers = ctx.providers.for_channel(channel)
    while v["provider_index"] < len(providers):
        provider = providers[v["provider_index"]]
        key = PROVIDER_KEY.get(provider.name)
        if key is None or key in template.provider_params:
            break
        v["provider_index"] += 1
    else:
        v["provider_index"] = 0
        _permanent(w, SendResult(Outcome.permanent, code="no_provider_template"), now)
        return
    try:
        params = render_params(template.provider_params.get(key, {}) if key else {}, n.variables)
        text = render(template.body, n.variables)
        title = render(template.title, n.variables)
    except (KeyError, IndexError, ValueError) as exc:  # the template changed since
        v["provider"] = provider.name
        _permanent(
            w, SendResult(Outcome.permanent, code="template_render_failed", detail=str(exc)), now
        )
        return
    w.provider = provider
    v["provider"] = provider.name
    if channel == Channel.sms:
        recent.setdefault(to or "", []).insert(0, now)
    w.message = OutboundMessage(
        notification_id=str(n.id),
        channel=channel,
        to=to or "",
        params=params,
        text=text,
        title=title,
    )


def _defer(w: Work, until: datetime, code: str, now: datetime) -> None:
    w.set(status=NotificationStatus.deferred, next_attempt_at=until, last_error_code=code)
    w.log(NotificationStatus.deferred, now, channel=w.values["channel"], code=code)


def _transient(ctx: DeliveryContext, w: Work, r: SendResult, now: datetime) -> None:
    s = ctx.settings
    attempts = w.values["attempts"] + 1
    w.set(attempts=attempts, last_error_code=r.code, last_error_detail=r.detail)
    if attempts >= s.max_attempts:
        w.set(status=NotificationStatus.dead)
        w.log(
            NotificationStatus.dead,
            now,
            channel=w.values["channel"],
            provider=w.values["provider"],
            code=r.code,
            detail=f"gave up after {attempts} attempts: {r.detail or r.code}",
        )
        return
    delay = backoff(attempts, base=s.backoff_base_seconds, cap=s.backoff_max_seconds, rng=ctx.rng)
    w.set(status=NotificationStatus.retrying, next_attempt_at=now + delay)
    w.log(
        NotificationStatus.retrying,
        now,
        channel=w.values["channel"],
        provider=w.values["provider"],
        code=r.code,
        detail=r.detail,
    )


def _permanent(w: Work, r: SendResult, now: datetime) -> None:
    v = w.values
    v.update(last_error_code=r.code, last_error_detail=r.detail)
    if v["channel_index"] + 1 < len(v["channels"]):
        w.log(
            "fallback",
            now,
            channel=v["channel"],
            provider=v["provider"],
            code=r.code,
            detail=r.detail,
        )
        v.update(
            channel_index=v["channel_index"] + 1,
            provider_index=0,
            status=NotificationStatus.queued,
            next_attempt_at=now,
        )
        return
    v["status"] = NotificationStatus.failed
    w.log(
        NotificationStatus.failed,
        now,
        channel=v["channel"],
        provider=v["provider"],
        code=r.code,
        detail=r.detail,
    )


def _apply_result(ctx: DeliveryContext, w: Work, r: SendResult, now: datetime) -> None:
    v = w.values
    channel, provider = v["channel"], v["provider"]
    if r.outcome in (Outcome.accepted, Outcome.delivered):
        delivered = r.outcome is Outcome.delivered
        v.update(
            status=NotificationStatus.delivered if delivered else NotificationStatus.sent,
            provider_message_id=r.provider_message_id,
            sent_at=now,
            delivered_at=now if delivered else None,
            last_error_code=None,
            last_error_detail=None,
        )
        biz_id = r.extra.get("biz_id")  # a batch call's id at the provider
        w.log(
            v["status"],
            now,
            channel=channel,
            provider=provider,
            code=r.code,
            detail=f"batch BizId {biz_id}" if biz_id else None,
        )
    elif r.outcome is Outcome.ambiguous:
        wait = timedelta(seconds=ctx.settings.receipt_wait_seconds)
        v.update(
            status=NotificationStatus.unconfirmed,
            # a batch send is named before the call: the receipt or query settles it by that
            provider_message_id=r.provider_message_id,
            next_attempt_at=now + wait,
            sent_at=now,
            last_error_code=r.code,
            last_error_detail=r.detail,
        )
        w.log(v["status"], now, channel=channel, provider=provider, code=r.code, detail=r.detail)
    elif r.outcome is Outcome.rate_limited:
        until = now + (r.retry_after or timedelta(minutes=1))
        v.update(last_error_detail=r.detail)
        w.set(status=NotificationStatus.deferred, next_attempt_at=until, last_error_code=r.code)
        w.log(NotificationStatus.deferred, now, channel=channel, provider=provider, code=r.code)
    elif r.outcome is Outcome.outage:
        if v["provider_index"] + 1 < len(ctx.providers.for_channel(channel)):
            w.log("failover", now, channel=channel, provider=provider, code=r.code, detail=r.detail)
            v.update(
                provider_index=v["provider_index"] + 1,
                status=NotificationStatus.queued,
                next_attempt_at=now,
                last_error_code=r.code,
            )
        else:
            v["provider_index"] = 0
            _transient(ctx, w, r, now)
    elif r.outcome is Outcome.permanent:
        _permanent(w, r, now)
    else:
        _transient(ctx, w, r, now)


async def _record(ctx: DeliveryContext, work: list[Work], now: datetime) -> None:
    await _record_in_transaction(ctx, work, now)
    count_delivery_events(e for w in work for e in w.events)  # once committed


async def _record_in_transaction(ctx: DeliveryContext, work: list[Work], now: datetime) -> None:
    async with ctx.sessionmaker() as session, session.begin():
        await repo.update_many(session, [w.values for w in work], (*WRITE_COLUMNS, "updated_at"))
        await repo.add_events(session, [e for w in work for e in w.events])
        inbox = [w.inbox for w in work if w.inbox is not None]
        if inbox:
            table = InboxItem.__table__  # type: ignore[attr-defined]
            # a message planned again (deferred, retried) already has its inbox item
            await session.execute(
                pg_insert(table).on_conflict_do_nothing(index_elements=["notification_id"]),
                inbox,
            )
        sent = [
            w.values
            for w in work
            if w.values["status"] in (NotificationStatus.sent, NotificationStatus.unconfirmed)
        ]
        if sent:
            pairs = await repo.pending_receipts_for_many(
                session,
                notification_ids=[v["id"] for v in sent],
                refs=[(v["provider"], v["provider_message_id"]) for v in sent],
            )
            if pairs:
                await notifications.land_pending_receipts(session, pairs, now)
