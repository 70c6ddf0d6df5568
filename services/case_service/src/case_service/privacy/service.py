"""Reporter privacy: sealing at intake, masking and reveal on read, the reveal audit, erasure.

The cipher (:mod:`shared.pii`, the key-id scheme grid_service uses for residents) is built once
per process from the settings (:func:`configure`); sealing a reporter costs two AES-GCM calls
and one HMAC. Every role sees a reporter masked (``王**``, ``138****5678``) except the reporter
themself and whoever filed the report for them; the roles that call reporters back
(``CASE_REPORTER_REVEAL_ROLES``) may ask ``reveal=true&reason=…`` on a case they dispatch or
handle, and each reveal is one row of the append-only ``reporter_reveal`` table. A closed
case's phone is erased ``CASE_REPORTER_PHONE_RETENTION_DAYS`` after closure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.cases import access
from case_service.cases.models import Case, CaseAssignment
from case_service.config import Settings
from case_service.privacy.models import ReporterReveal
from shared.auth import Principal
from shared.db import utcnow
from shared.i18n import Text
from shared.logging import current_request_id, get_logger
from shared.pii import PiiCipher, mask_name, mask_phone, phone_key
from shared.problem import FieldProblem, Forbidden, ValidationFailed

log = get_logger(__name__)

NAME_FIELD = "case.reporter_name"
PHONE_FIELD = "case.reporter_phone"

_cipher: PiiCipher | None = None
_reveal_roles: tuple[str, ...] = ()


def configure(settings: Settings) -> None:
    """Build the process's cipher and reveal policy from the settings (once, at app creation)."""
    global _cipher, _reveal_roles
    _cipher = PiiCipher.from_keys(settings.pii_keys, settings.pii_hash_key)
    _reveal_roles = tuple(settings.reporter_reveal_roles)


def cipher() -> PiiCipher:
    if _cipher is None:
        raise RuntimeError("case_service.privacy.configure() was not called")
    return _cipher


@dataclass(frozen=True, slots=True)
class Sealed:
    name: str | None
    phone: str | None
    phone_hash: str | None


def seal(name: str | None, phone: str | None) -> Sealed:
    """What is stored of a reporter's name and phone."""
    c = cipher()
    return Sealed(
        name=c.encrypt(name, field=NAME_FIELD) if name else None,
        phone=c.encrypt(phone, field=PHONE_FIELD) if phone else None,
        phone_hash=c.lookup_hash(phone_key(phone)) if phone else None,
    )


def phone_hash(phone: str) -> str:
    return cipher().lookup_hash(phone_key(phone))


def phone_hash_for(principal: Principal, phone: str) -> str:
    """The lookup hash to find a caller's cases by phone, for the roles that may reveal."""
    if not principal.has_role(*_reveal_roles):
        raise Forbidden(
            Text(
                "您的角色不能按报告人电话查找案件",
                "Your role may not look cases up by the reporter's phone",
            ),
            code="reveal_not_allowed",
        )
    return phone_hash(phone)


def open_name(case: Case) -> str | None:
    return cipher().decrypt(case.reporter_name, field=NAME_FIELD) if case.reporter_name else None


def open_phone(case: Case) -> str | None:
    if not case.reporter_phone:
        return None
    return cipher().decrypt(case.reporter_phone, field=PHONE_FIELD)


def is_own(principal: Principal, case: Case) -> bool:
    """The reporter, or who filed the report for them (代办): they typed it in themselves."""
    if case.reporter_account_id is not None and case.reporter_account_id == principal.subject:
        return True
    return case.reported_by_account_id == principal.subject


def may_reveal(principal: Principal, case: Case, assignments: list[CaseAssignment]) -> bool:
    """A role that calls reporters back, on a case it dispatches or handles; never anonymous."""
    return (
        not case.anonymous
        and principal.has_role(*_reveal_roles)
        and access.sees_reporter(principal, case, assignments)
    )


def check_reveal(
    principal: Principal,
    case: Case,
    assignments: list[CaseAssignment],
    *,
    reason: str | None,
) -> str:
    """The reason of an allowed reveal, or the problem that refuses it."""
    if not may_reveal(principal, case, assignments):
        raise Forbidden(
            Text(
                "您的角色不能查看此案件报告人的完整姓名和电话（仅回访/回电的办理、派遣人员可查看）",
                "Your role may not see this case's reporter in full (only those who dispatch "
                "or handle it, to call the reporter back)",
            ),
            code="reveal_not_allowed",
        )
    if reason is None or not reason.strip():
        raise ValidationFailed(
            Text("请说明查看完整联系方式的理由", "Say why you need the reporter's full details"),
            code="reveal_reason_required",
            errors=[
                FieldProblem(
                    field="query.reason",
                    reason=Text("reveal=true 时必填", "required with reveal=true"),
                    type="missing",
                )
            ],
        )
    return reason.strip()[:500]


async def record_reveal(
    session: AsyncSession, principal: Principal, case: Case, *, reason: str
) -> ReporterReveal:
    fields = [f for f, v in (("name", case.reporter_name), ("phone", case.reporter_phone)) if v]
    entry = ReporterReveal(
        case_id=case.id,
        actor_id=principal.subject,
        actor_roles=sorted(principal.roles),
        fields=fields,
        reason=reason,
        request_id=current_request_id(),
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ReporterView:
    name: str | None
    phone: str | None
    masked: bool


def view(case: Case, *, clear: bool) -> ReporterView:
    name, phone = open_name(case), open_phone(case)
    if clear:
        return ReporterView(name=name, phone=phone, masked=False)
    return ReporterView(name=mask_name(name), phone=mask_phone(phone), masked=True)


async def erase_phones(
    session: AsyncSession, *, now: datetime, retention: timedelta, limit: int = 500
) -> int:
    """Erase the reporter phone (and its hash) of up to ``limit`` cases closed before
    ``now - retention``; returns how many. A reopened case has no ``closed_at`` and keeps it."""
    cutoff = now - retention
    table = Case.__table__  # type: ignore[attr-defined]
    ids = (
        sa.select(table.c.id)
        .where(
            table.c.closed_at.is_not(None),
            table.c.reporter_phone.is_not(None),
            table.c.closed_at < cutoff,
        )
        .order_by(table.c.closed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        sa.update(table)
        .where(table.c.id.in_(ids))
        .values(reporter_phone=None, reporter_phone_hash=None, reporter_phone_erased_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class ErasureWorker:
    """Erases reporter phones past their retention, in batches, until stopped."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        retention_days: int,
        poll_seconds: float,
        batch: int = 500,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.maker = maker
        self.retention = timedelta(days=retention_days)
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.clock = clock
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        async with self.maker() as session, session.begin():
            return await erase_phones(
                session, now=self.clock(), retention=self.retention, limit=self.batch
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reporter-erasure-worker")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                erased = await self.run_once()
                if erased:
                    log.info("reporter_phones_erased", count=erased)
            except Exception as exc:  # the database may be briefly away; keep going
                log.warning("reporter_erasure_failed", error=type(exc).__name__)
                erased = 0
            if erased < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_seconds)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
