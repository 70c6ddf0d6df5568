"""Intake (受理登记): the workflow across domains that files a new case.

It sits above the domains it uses — cases, categories, time limits (sla), the outbox,
attachments, webhooks — so that ``cases/`` knows only cases.

``POST /cases`` (:func:`intake`) takes no request-scoped session: it asks grid_service where the
case is with no transaction open (``cases.flows.locate``), then opens one short transaction of
as few statements as the work allows:

1. **one read**: the category's current version, the time-limit policies that may apply, the
   working-calendar overrides of the case's jurisdiction, the next case number and — with an
   ``Idempotency-Key`` — what is stored under the key (a replay answers from it);
2. the duplicate check (open cases of the category nearby), when the case has a point, and for
   a resident the counts of similar reports (``cases.support``);
3. **one data-modifying statement** (``INSERT … ; WITH … AS (INSERT …)``): the case, its
   timeline entry, outbox events, deadline and timers — and the idempotency record with the
   response, ``ON CONFLICT DO NOTHING``. A concurrent request holding the same key makes that
   insert return no row: the transaction is rolled back (nothing of it stays) and the intake
   runs again, which then replays the stored response.

Rows are built in Python (ids included, so rows can refer to each other) and written through
SQLAlchemy Core; compiled statements are cached by SQLAlchemy and prepared once per connection
by asyncpg. Attachments, a platform's webhooks and the other callers of :func:`create_case`
(Open311, pushed work orders) continue in the same transaction after the write, with the case
attached to the session as a loaded row.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased, make_transient_to_detached
from sqlmodel import col

from case_service.attachments import service as attachments
from case_service.cases import access, flows, presenter, repository, service, support
from case_service.cases.lifecycle import Status
from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from case_service.cases.schemas import CaseCreate, CaseIntakeResult, CaseRead, CaseSummary
from case_service.cases.service import STAFF_ROLES, Located
from case_service.categories.models import Category
from case_service.categories.schemas import AttributeDefinition, validate_attribute_values
from case_service.clients.grid import GridClient
from case_service.outbox.models import OutboxEvent
from case_service.outbox.service import event_payload
from case_service.privacy import service as privacy
from case_service.sla import service as sla
from case_service.sla.models import CaseDeadline, SlaTimer
from case_service.webhooks import service as webhooks
from shared import db
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.i18n import Text
from shared.idempotency import Idempotency, request_hash
from shared.problem import Forbidden, ValidationFailed

#: merge candidates shown with a new case (find_duplicates' default)
DUPLICATES_SHOWN = 10
#: attempts of the intake transaction when another request held its Idempotency-Key
KEY_ATTEMPTS = 3

_CASE = Case.__table__  # type: ignore[attr-defined]
_TIMELINE = TimelineEntry.__table__  # type: ignore[attr-defined]
_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
_ASSIGNMENT = CaseAssignment.__table__  # type: ignore[attr-defined]
_DEADLINE = CaseDeadline.__table__  # type: ignore[attr-defined]
_TIMER = SlaTimer.__table__  # type: ignore[attr-defined]
_CATEGORY = Category.__table__  # type: ignore[attr-defined]
_CATEGORY_KEYS = tuple(c.key for c in _CATEGORY.c)


@dataclass
class IntakeOutcome:
    status_code: int
    body: object
    replayed: bool = False


@dataclass
class _Event:
    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass
class Filing:
    """A new case ready to be written: its rows, and what the response needs."""

    case: Case
    duplicates: list[repository.NearbyCase]
    assignments: list[CaseAssignment]
    rows: dict[sa.Table, list[dict[str, Any]]]
    events: list[_Event] = field(default_factory=list)
    #: open cases of the category nearby (up to SIMILAR_LIMIT for a resident), newest first
    nearby: list[repository.NearbyCase] = field(default_factory=list)
    closed_to_public: bool = True
    attachment_claims: list[tuple[list[uuid.UUID], str]] = field(default_factory=list)

    def add(self, table: sa.Table, values: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(values)

    def event(
        self,
        *,
        type: str,
        actor_id: str | None,
        action: str | None = None,
        previous_status: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """An outbox event of the case as it is now (a new case: no merged supporters)."""
        case = self.case
        payload = event_payload(
            case,
            actor_id=actor_id,
            action=action,
            previous_status=previous_status,
            extra=extra,
        )
        # the row's own clock, as the model's default (not the case's ``now``): events of one
        # transaction keep their order
        event = _Event(id=uuid.uuid4(), type=type, payload=payload, created_at=db.utcnow())
        self.events.append(event)
        self.add(
            _OUTBOX,
            {
                "id": event.id,
                "case_id": case.id,
                "type": type,
                "case_version": case.version,
                "area_path": case.area_path,
                "payload": payload,
                "created_at": event.created_at,
                "relayed_at": None,
                "attempts": 0,
                "next_attempt_at": event.created_at,
                "last_error": None,
            },
        )

    def statement(
        self, head: tuple[Any, dict[str, Any]] | None = None
    ) -> tuple[db.Prepared, dict[str, Any]]:
        """Every row in one statement: the case insert (or ``head``, the idempotency
        record's) with the other inserts as data-modifying CTEs, and its parameters. The
        statement depends only on the number of rows of each table (bound parameters), so it
        is built and compiled once per shape and prepared once per connection."""
        shape = tuple((t.name, len(rows)) for t, rows in self.rows.items())
        params: dict[str, Any] = {f"c0_{c.key}": getattr(self.case, c.key) for c in _CASE.c}
        for t, rows in self.rows.items():
            for i, values in enumerate(rows):
                params.update({f"{t.name}{i}_{c.key}": values.get(c.key) for c in t.c})
        if head is None:
            return _statement(shape, None), params
        statement, head_params = head
        params.update(head_params)
        return _statement(shape, statement), params

    async def write(
        self, session: AsyncSession, *, head: tuple[Any, dict[str, Any]] | None = None
    ) -> bool:
        """Write the rows in one statement, then what needs the case stored (attachments,
        webhooks); the case joins the session as a loaded row. False when ``head`` (the
        idempotency record) returned no row: another request holds the key, and the caller
        must roll back."""
        statement, params = self.statement(head)
        result = await statement.run(session, params)
        if head is not None and result.first() is None:
            return False
        case = self.case
        make_transient_to_detached(case)
        session.add(case)
        for a in self.assignments:
            make_transient_to_detached(a)
            session.add(a)
        for ids, name in self.attachment_claims:
            await attachments.claim(
                session, ids, case_id=case.id, actor_id=case.reported_by_account_id, field=name
            )
        for event in self.events:
            await webhooks.fan_out(
                session,
                case,
                event_id=event.id,
                type=event.type,
                payload=event.payload,
                occurred_at=event.created_at,
            )
        return True


_STATEMENTS: dict[tuple[Any, ...], db.Prepared] = {}


def _insert(table: sa.Table, prefix: str) -> Any:
    """One row's insert, every column a bound parameter (``<prefix>_<column>``). One row per
    insert: SQLAlchemy caches the compiled form of a single-row ``VALUES`` (not of a
    multi-row one), so each further row is a CTE of its own."""
    return sa.insert(table).values(
        {c.key: sa.bindparam(f"{prefix}_{c.key}", type_=c.type) for c in table.c}
    )


def _statement(shape: tuple[tuple[str, int], ...], head: Any) -> db.Prepared:
    """The write statement of one shape (rows per table), built and compiled once."""
    cache_key = (shape, head)
    if (found := _STATEMENTS.get(cache_key)) is not None:
        return found
    tables = {t.name: t for t in (_TIMELINE, _OUTBOX, _ASSIGNMENT, _DEADLINE, _TIMER)}
    inserts = [_insert(_CASE, "c0")] + [
        _insert(tables[name], f"{name}{i}") for name, n in shape for i in range(n)
    ]
    if head is None:
        head, rest = inserts[0], inserts[1:]
    else:
        rest = inserts
    ctes = [ins.cte(f"w{i}") for i, ins in enumerate(rest)]
    statement = db.Prepared(head.add_cte(*ctes) if ctes else head)
    _STATEMENTS[cache_key] = statement
    return statement


@functools.cache
def _read_statement(with_key: bool) -> db.Prepared:
    """The intake's one read, built once (bound parameters ``category_code``, ``prefixes``
    and, ``with_key``, the Idempotency-Key's): the category's current version, the next case
    number (only for a known category), the policies that may apply, the calendar overrides,
    the 大类's disclosure (for a resident's similar_nearby) and what the key stored."""
    code = sa.bindparam("category_code", type_=sa.String())
    parent = aliased(Category, name="parent")
    columns: list[Any] = [
        *_CATEGORY.c,
        sa.case((col(Category.id).is_not(None), sa.func.nextval("case_number_seq"))),
        sla.policy_candidates_json(code),
        sla.calendar_json(sa.bindparam("prefixes", type_=ARRAY(sa.String()))),
        sa.select(col(parent.public_disclosure))
        .where(col(parent.code) == col(Category.parent_code), col(parent.is_current))
        .scalar_subquery(),
    ]
    if with_key:
        columns.append(Idempotency.stored_column())
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    return db.Prepared(
        sa.select(*columns)
        .select_from(one)
        .outerjoin(Category, sa.and_(col(Category.code) == code, col(Category.is_current)))
    )


def _unknown_category() -> ValidationFailed:
    return service._invalid(
        "category_code",
        Text(
            "没有这个在用的小类（案件按二级类别登记）",
            "no such active 小类 (cases are filed under a second-level category)",
        ),
        Text("未知的类别", "Unknown category"),
        "unknown_category",
    )


async def prepare(
    session: AsyncSession,
    *,
    principal: Principal,
    data: CaseCreate,
    located: Located,
    idempotency: Idempotency | None = None,
) -> Filing | JSONResponse:
    """Check and build a new case (and, for 自行处置, its resolution) with every row it
    needs; nothing is written yet. With ``idempotency``, the replay of an earlier identical
    request instead, when the key is known. The caller has checked the channel and source
    (``service.check_channel``: :func:`intake`, :func:`create_case`)."""
    now = utcnow()
    handling_path, handling_level = located.first_handling_level()
    stored = idempotency.stored_params() if idempotency is not None else None
    params: dict[str, Any] = {
        "category_code": data.category_code,
        "prefixes": sla.calendar_prefixes(handling_path or located.area_path),
        **(stored or {}),
    }
    found = (await _read_statement(stored is not None).run(session, params)).one()
    n = len(_CATEGORY_KEYS)
    category = (
        db.new_row(Category, **dict(zip(_CATEGORY_KEYS, found[:n], strict=True)))
        if found[0] is not None  # the category's id (its table's first column): None if unknown
        else None
    )
    number, policies, overrides, parent_disclosure, *key = found[n:]
    replay = idempotency.replay_stored(key[0]) if stored is not None and idempotency else None
    if replay is not None:
        return replay
    if data.occurred_at is not None and data.occurred_at > now + timedelta(minutes=5):
        raise service._invalid(
            "occurred_at",
            Text("不能晚于当前时间", "in the future"),
            Text("发生时间（occurred_at）晚于当前时间", "occurred_at is in the future"),
            "occurred_in_future",
        )
    if category is None or not category.active or category.parent_code is None:
        raise _unknown_category()
    definitions = [AttributeDefinition.model_validate(a) for a in category.attributes]
    clean, problems = validate_attribute_values(definitions, data.attributes)
    if problems:
        raise ValidationFailed(
            Text("类别表单填写有误", "The category's form is not filled in correctly"),
            code="invalid_attributes",
            errors=problems,
        )
    self_handled = data.self_handled
    if self_handled is not None and not (
        principal.has_role(Role.grid_worker) and principal.covers_area(located.area_path)
    ):
        raise Forbidden(
            Text(
                "只有网格员可以现场处置（自行处置），且只限本人网格",
                "Only a grid worker may resolve on the spot, and only in their own grids",
            ),
            code="self_handling_not_allowed",
        )

    staff = principal.has_role(*STAFF_ROLES)
    # Only staff set priority and major; from a resident or another platform they are a
    # request the dispatcher decides on at accept (so a resident cannot start a 30-minute
    # clock or alert every leader above).
    if staff:
        priority = data.priority.value if data.priority else category.default_priority
        major, requested_priority, requested_major = data.major, None, False
    else:
        priority, major = category.default_priority, False
        requested_priority = data.priority.value if data.priority else None
        requested_major = data.major
    reporter = data.reporter
    if principal.has_role(Role.resident) and not staff:
        reporter_account_id: str | None = principal.subject
        on_behalf = False
    else:
        reporter_account_id = reporter.account_id if reporter else None
        on_behalf = reporter is not None and staff
    sealed = privacy.seal(reporter.name, reporter.phone) if reporter else privacy.seal(None, None)
    case = db.new_row(
        Case,
        case_number=f"{now:%Y%m%d}{int(number):06d}",
        status=Status.reported.value,
        category_id=category.id,
        category_code=category.code,
        category_name=category.name,
        kind=category.kind,
        routing=category.routing,
        handling_class=category.handling_class,
        priority=priority,
        major=major,
        requested_priority=requested_priority,
        requested_major=requested_major,
        title=data.title or category.name,
        description=data.description,
        attributes=clean,
        channel=data.channel.value,
        source=data.source,
        external_id=data.external_id,
        occurred_at=data.occurred_at,
        lat=located.lat,
        lng=located.lng,
        address=data.location.address,
        address_id=located.address_id,
        location_status=located.location_status,
        area_id=located.area_id,
        area_code=located.area_code,
        area_name=located.area_name,
        area_path=located.area_path,
        area_chain=located.area_chain,
        handling_area_path=handling_path,
        handling_level=handling_level,
        reporter_account_id=reporter_account_id,
        reporter_name=sealed.name,
        reporter_phone=sealed.phone,
        reporter_phone_hash=sealed.phone_hash,
        anonymous=bool(reporter and reporter.anonymous),
        reported_by_account_id=principal.subject,
        on_behalf=on_behalf,
        created_at=now,
        updated_at=now,
    )
    filing = Filing(case=case, duplicates=[], assignments=[], rows={})
    if data.attachment_ids:
        filing.attachment_claims.append((list(data.attachment_ids), "attachment_ids"))
    filing.add(
        _TIMELINE,
        service.timeline_values(
            case,
            principal,
            kind="transition",
            action="report",
            to_status=Status.reported.value,
            visibility="public",
            attachment_ids=data.attachment_ids,
            data={
                "channel": case.channel,
                "on_behalf": on_behalf,
                **({"requested_priority": requested_priority} if requested_priority else {}),
                **({"requested_major": True} if requested_major else {}),
                **located.how,
            },
            at=now,
        ),
    )
    filing.event(type="case.reported", actor_id=principal.subject, action="report")

    if self_handled is not None:
        if self_handled.attachment_ids:
            filing.attachment_claims.append(
                (list(self_handled.attachment_ids), "self_handled.attachment_ids")
            )
        assignment = db.new_row(
            CaseAssignment,
            case_id=case.id,
            role="lead",
            account_id=principal.subject,
            state="finished",
            result=self_handled.result,
            assigned_by=principal.subject,
            assigned_at=now,
            finished_at=now,
        )
        filing.assignments.append(assignment)
        filing.add(_ASSIGNMENT, {c.key: getattr(assignment, c.key) for c in _ASSIGNMENT.c})
        case.status = Status.resolved.value
        case.result = self_handled.result
        case.self_handled = True
        case.resolved_at = now
        case.assignee_account_ids = [principal.subject]
        case.version += 1
        filing.add(
            _TIMELINE,
            service.timeline_values(
                case,
                principal,
                kind="transition",
                action="resolve",
                from_status=Status.reported.value,
                to_status=Status.resolved.value,
                reason=self_handled.result,
                visibility="public",
                attachment_ids=self_handled.attachment_ids,
                data={"self_handled": True},
                at=now,
            ),
        )
        filing.event(
            type="case.resolved",
            actor_id=principal.subject,
            action="resolve",
            previous_status=Status.reported.value,
            extra={"self_handled": True},
        )

    # sla.on_reported, on rows: the acceptance clock starts; a major incident goes upward.
    if case.status == Status.reported.value:
        policy = sla.pick_policy(
            sla.policies_from_json(policies),
            category_code=case.category_code,
            kind=case.kind,
            priority=case.priority,
            level=case.handling_level,
        )
        cal = sla.calendar_from(overrides)
        made = sla.plan_deadlines(case, (sla.ACCEPT,), now, policy=policy, cal=cal, imposed=None)
        for d in made:
            filing.add(_DEADLINE, d)
            for kind, due_at in sla.timers_due(
                due_at=d["due_at"],
                unit=d["unit"],
                total_seconds=d["total_seconds"],
                reminder_ratio=d["reminder_ratio"],
                overdue=False,
                reminded=False,
                cal=cal,
                now=now,
            ):
                filing.add(
                    _TIMER,
                    {
                        "id": uuid.uuid4(),
                        "case_id": case.id,
                        "kind": kind,
                        "deadline_id": d["id"],
                        "supervision_id": None,
                        "dispute_term_id": None,
                        "due_at": due_at,
                        "fired_at": None,
                        "attempts": 0,
                        "last_error": None,
                        "created_at": db.utcnow(),
                    },
                )
        case.due_at = min((d["due_at"] for d in made), default=None)
    if sla.is_major(case):
        chain = [e.get("path") for e in (case.area_chain or []) if e.get("path")]
        filing.event(
            type="case.major_incident",
            actor_id=None,
            extra={
                "levels_above": [p for p in chain if p != case.area_path],
                "critical": True,
                "major": True,
            },
        )

    if case.lat is not None and case.lng is not None:
        # one look serves both: the merge candidates (the newest ten) and, for a resident,
        # the similar reports nearby (up to SIMILAR_LIMIT, the same query)
        resident = support.resident_only(principal)
        filing.nearby = await repository.find_duplicates(
            session,
            category_code=case.category_code,
            lat=case.lat,
            lng=case.lng,
            radius_m=category.duplicate_radius_m,
            since=now - timedelta(hours=category.duplicate_window_hours),
            limit=max(DUPLICATES_SHOWN, support.SIMILAR_LIMIT) if resident else DUPLICATES_SHOWN,
        )
        filing.duplicates = filing.nearby[:DUPLICATES_SHOWN]
        filing.closed_to_public = support.closed_to_the_public(
            category.public_disclosure, parent_disclosure, top=category.parent_code is None
        )
    return filing


async def create_case(
    session: AsyncSession,
    *,
    principal: Principal,
    data: CaseCreate,
    located: Located,
) -> tuple[Case, list[repository.NearbyCase]]:
    """File a case (and, for 自行处置, resolve it in the same transaction), in the caller's
    transaction: the case and the possible duplicates found for it."""
    service.check_channel(principal, data)
    filing = await prepare(session, principal=principal, data=data, located=located)
    assert isinstance(filing, Filing)  # no idempotency: never a replay
    await filing.write(session)
    return filing.case, filing.duplicates


async def _existing(
    maker: async_sessionmaker[AsyncSession], principal: Principal, data: CaseCreate
) -> CaseRead | None:
    if data.source is None or data.external_id is None:
        return None
    async with maker() as session, session.begin():
        case = await repository.get_by_external(session, data.source, data.external_id)
        if case is None:
            return None
        rows = await repository.assignments(session, case.id)
        return presenter.case_read(principal, case, rows)


class _KeyTaken(Exception):
    """Another request holds this Idempotency-Key: roll back and try again."""


async def intake(
    *,
    request: Request,
    principal: Principal,
    data: CaseCreate,
    idempotency_key: str | None,
) -> IntakeOutcome:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    grid: GridClient = request.app.state.grid_client
    # 0. Who may file through which channel and name which source, before anything is read:
    # the external-id lookup below must never answer another platform's case.
    service.check_channel(principal, data)
    # 1. The same (source, external_id) again: the case we already have (200).
    if (found := await _existing(maker, principal, data)) is not None:
        return IntakeOutcome(200, found)
    # 2. Locate with no transaction open.
    located = await flows.locate(
        grid, principal, data, default_area=request.app.state.settings.intake_default_area_path
    )
    # 3. One short transaction for every write.
    digest = await request_hash(request)
    for attempt in range(KEY_ATTEMPTS):
        try:
            return await _file(maker, request, principal, data, located, idempotency_key, digest)
        except _KeyTaken:
            if attempt == KEY_ATTEMPTS - 1:
                raise
        except IntegrityError:
            # Two pushes of one external case raced; the other one won.
            if (found := await _existing(maker, principal, data)) is not None:
                return IntakeOutcome(200, found)
            raise
    raise AssertionError("unreachable")


async def _file(
    maker: async_sessionmaker[AsyncSession],
    request: Request,
    principal: Principal,
    data: CaseCreate,
    located: Located,
    key: str | None,
    digest: str,
) -> IntakeOutcome:
    async with maker() as session, session.begin():
        idem = Idempotency(session=session, request=request, key=key, request_hash=digest)
        filing = await prepare(
            session, principal=principal, data=data, located=located, idempotency=idem
        )
        if isinstance(filing, JSONResponse):
            return IntakeOutcome(filing.status_code, filing, replayed=True)
        case = filing.case
        read = presenter.case_read(principal, case, filing.assignments)
        # Staff see the merge candidates in their scope; residents and platforms only their
        # own among them, and a resident learns of other people's reports by count alone
        # (similar_nearby), never which cases they are.
        shown = [d for d in filing.duplicates if access.can_see(principal, d)]
        similar = None
        if filing.duplicates and support.resident_only(principal):
            similar = await support.similar_nearby(
                session, principal, case, nearby=filing.nearby, closed=filing.closed_to_public
            )
        # dict(read): the validated sub-models pass through (no dump and re-validation)
        result = CaseIntakeResult.model_validate(
            {
                **dict(read),
                "possible_duplicates": [CaseSummary.model_validate(d) for d in shown],
                "similar_nearby": similar,
            }
        )
        body = idem.body(result)
        if not await filing.write(session, head=idem.record(201, body)):
            raise _KeyTaken
        return IntakeOutcome(201, JSONResponse(body, status_code=201))
