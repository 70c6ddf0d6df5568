"""Business rules of basic information: scope, validation, encryption of personal numbers,
masking, special-group access and the visit cadence of households. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.accounts.models import Account
from grid_service.areas import repository as areas_repository
from grid_service.areas.models import Area
from grid_service.basicinfo import idnumbers, repository
from grid_service.basicinfo.models import (
    Household,
    KeyPlace,
    Organisation,
    Resident,
    SpecialGroupTag,
    StandardAddress,
)
from grid_service.basicinfo.schemas import (
    KeyPlaceRead,
    OrganisationRead,
    ResidentCreate,
    ResidentRead,
    TaggedResident,
)
from grid_service.basicinfo.specialgroups import SpecialGroup
from grid_service.config import Settings
from grid_service.privacy import service as privacy
from grid_service.privacy.crypto import PiiCipher, normalise
from grid_service.privacy.masking import mask_id_number, mask_phone
from grid_service.privacy.models import AuditAction
from grid_service.scope import ensure_covers
from shared.auth import Principal, require_roles
from shared.db import utcnow
from shared.i18n import Text
from shared.pii import mask_name
from shared.problem import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed

#: Who keeps basic information: grid workers, grid leaders and admins, inside their areas.
STAFF_ROLES = ("grid_worker", "grid_leader", "admin")
StaffDep = Annotated[Principal, require_roles(*STAFF_ROLES)]
#: Who may read field work (patrols, visits, what is due): also the centre's dispatchers and
#: supervisors, inside their areas.
FieldViewerDep = Annotated[Principal, require_roles(*STAFF_ROLES, "dispatcher", "supervisor")]

ID_FIELD = "resident.id_number"
PHONE_FIELD = "resident.phone"
ORG_PHONE_FIELD = "organisation.contact_phone"
PLACE_PHONE_FIELD = "key_place.responsible_phone"


def invalid(field: str, reason: Text, *, code: str = "validation_failed") -> ValidationFailed:
    return ValidationFailed(reason, code=code, errors=[FieldProblem(field=field, reason=reason)])


def scope_paths(principal: Principal, area_path: str | None) -> list[str]:
    """The paths a list is limited to: ``area_path`` (inside the caller's areas) or all of
    the caller's areas."""
    if area_path is None:
        return list(principal.area_paths)
    ensure_covers(principal, [area_path])
    return [area_path]


async def area_or_404(session: AsyncSession, area_id: uuid.UUID) -> Area:
    area = await areas_repository.get(session, area_id)
    if area is None:
        raise NotFound(Text(f"没有区域 {area_id}", f"No area {area_id}"), code="area_not_found")
    return area


async def area_in_scope(
    session: AsyncSession, principal: Principal, area_id: uuid.UUID, *, field: str = "area_id"
) -> Area:
    area = await areas_repository.get(session, area_id)
    if area is None:
        raise invalid(
            field, Text(f"没有区域 {area_id}", f"no area {area_id}"), code="area_not_found"
        )
    ensure_covers(principal, [area.path])
    return area


M = TypeVar("M", StandardAddress, Household, Resident, Organisation, KeyPlace)


async def in_scope(
    session: AsyncSession,
    principal: Principal,
    model: type[M],
    row_id: uuid.UUID,
    *,
    what: str,
    lock: bool = False,
) -> M:
    row = await repository.get(session, model, row_id, lock=lock)
    if row is None:
        raise NotFound(
            Text(f"没有{what} {row_id}", f"No {what} {row_id}"), code=f"{what}_not_found"
        )
    ensure_covers(principal, [row.area_path], what=what)
    return row


async def address_in_area(
    session: AsyncSession, address_id: uuid.UUID | None, area: Area, *, field: str
) -> StandardAddress | None:
    if address_id is None:
        return None
    address = await repository.get(session, StandardAddress, address_id)
    if address is None or address.area_id != area.id:
        raise invalid(
            field,
            Text("本区域没有这个标准地址", "no such standard address in this area"),
            code="address_not_found",
        )
    return address


async def household_in_area(
    session: AsyncSession, household_id: uuid.UUID | None, area: Area, *, field: str
) -> Household | None:
    if household_id is None:
        return None
    household = await repository.get(session, Household, household_id)
    if household is None or household.area_id != area.id:
        raise invalid(
            field,
            Text("本区域没有这户", "no such household in this area"),
            code="household_not_found",
        )
    return household


def check_id_number(value: str, *, field: str = "id_number") -> str:
    value = normalise(value)
    reason = idnumbers.problem(value)
    if reason is not None:
        raise invalid(field, reason, code="invalid_id_number")
    return value


async def check_responsible_worker(
    session: AsyncSession, worker_id: str | None, area_path: str, *, field: str
) -> None:
    """A household's responsible worker (包户网格员) is an enabled staff account of this
    service with the grid worker or grid leader role whose areas cover the household's grid."""
    if worker_id is None:
        return
    try:
        account_id = uuid.UUID(worker_id)
    except ValueError:
        account_id = None
    account = await session.get(Account, account_id) if account_id else None
    if account is None or account.kind != "staff" or account.disabled:
        raise invalid(
            field, Text("没有这个网格员账号", "no such grid worker account"), code="unknown_worker"
        )
    if not {"grid_worker", "grid_leader"} & set(account.roles):
        raise invalid(
            field,
            Text("该账号不是网格员或网格长", "the account is not a grid worker or grid leader"),
            code="unknown_worker",
        )
    if not any(area_path == p or area_path.startswith(p + ".") for p in account.area_paths):
        raise invalid(
            field,
            Text("该网格员不负责这个网格", "the worker's areas do not cover this grid"),
            code="unknown_worker",
        )


# ------------------------------------------------------------------ special-group follow-ups


def next_follow_up(tag: SpecialGroupTag) -> date | None:
    """The last follow-up (or the tagging day) plus the tag's interval; none without one."""
    if tag.follow_up_interval_days is None:
        return None
    since = tag.last_followed_up_on or (tag.created_at or utcnow()).date()
    return since + timedelta(days=tag.follow_up_interval_days)


def follow_up_horizon(settings: Settings) -> date:
    return utcnow().date() + timedelta(days=settings.visit_due_window_days)


def mask_address(street: str | None, building: str | None, unit: str | None) -> str | None:
    """The standard address down to the unit, the room masked: 文三路90号3栋2单元***室."""
    if not street:
        return None
    return f"{street}{building or ''}栋" + (f"{unit}单元" if unit else "") + "***室"


def tagged_read(row: Any, horizon: date) -> TaggedResident:
    m = row._mapping
    due_on = m["next_follow_up_on"]
    return TaggedResident(
        id=m["id"],
        resident_id=m["resident_id"],
        area_path=m["area_path"],
        tag=m["tag"],
        attention_level=m["attention_level"],
        helper_name=m["helper_name"],
        follow_up_interval_days=m["follow_up_interval_days"],
        last_followed_up_on=m["last_followed_up_on"],
        next_follow_up_on=due_on,
        details=m["details"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        resident_name=mask_name(m["resident_name"]),
        address=mask_address(m["street_address"], m["building_no"], m["unit_no"]),
        due=due_on is not None and due_on <= horizon,
    )


# ------------------------------------------------------------------ visit cadence


def visit_interval(settings: Settings, *, is_key: bool, is_hardship: bool) -> timedelta:
    days = settings.visit_interval_default_days
    if is_key:
        days = min(days, settings.visit_interval_key_days)
    if is_hardship:
        days = min(days, settings.visit_interval_hardship_days)
    return timedelta(days=days)


def next_visit_due(settings: Settings, household: Household) -> datetime:
    """The last visit plus its cadence: key and hardship households monthly, every household at
    least four times a year. The first visit: a key or hardship household never visited is due
    at once (from its registration, or from when it became one); any other household within
    the ordinary cadence of its registration."""
    if household.last_visited_at is None:
        if household.is_key or household.is_hardship:
            return min(household.created_at, utcnow())
        return household.created_at + visit_interval(settings, is_key=False, is_hardship=False)
    return household.last_visited_at + visit_interval(
        settings, is_key=household.is_key, is_hardship=household.is_hardship
    )


# ------------------------------------------------------------------ residents


async def create_resident(
    session: AsyncSession,
    cipher: PiiCipher,
    principal: Principal,
    body: ResidentCreate,
) -> Resident:
    area = await area_in_scope(session, principal, body.area_id)
    id_number = check_id_number(body.id_number)
    birth_on = idnumbers.birth_date(id_number)
    if body.birth_on is not None and body.birth_on != birth_on:
        raise invalid(
            "birth_on",
            Text(
                "与身份证号中的出生日期不一致", "differs from the birth date inside the ID number"
            ),
        )
    await address_in_area(session, body.current_address_id, area, field="current_address_id")
    household = await household_in_area(session, body.household_id, area, field="household_id")
    id_hash = cipher.lookup_hash(id_number)
    existing = await repository.resident_by_hash(session, id_hash)
    if existing is not None:
        # a person moving in from another grid: say where, so the worker can ask for a transfer
        raise Conflict(
            Text(
                "已登记使用此身份证号的居民：如已迁入本网格，请发起迁移"
                "（POST /api/v1/resident-transfers）",
                "A resident with this ID number is registered: if they moved here, ask for a "
                "transfer (POST /api/v1/resident-transfers)",
            ),
            code="resident_exists",
            extra={"resident_id": str(existing.id), "registered_in": existing.area_path},
        )
    resident = Resident(
        area_id=area.id,
        area_path=area.path,
        name=body.name.strip(),
        gender=(body.gender or idnumbers.gender(id_number)),
        birth_on=birth_on,
        id_number_enc=cipher.encrypt(id_number, field=ID_FIELD),
        id_number_hash=id_hash,
        phone_enc=cipher.encrypt(body.phone, field=PHONE_FIELD) if body.phone else None,
        phone_hash=cipher.lookup_hash(body.phone) if body.phone else None,
        ethnicity=body.ethnicity,
        registered_address=body.registered_address,
        current_address_id=body.current_address_id,
        migrant_status=body.migrant_status.value,
        household_id=body.household_id,
        relationship_to_head=body.relationship_to_head.value if body.relationship_to_head else None,
    )
    session.add(resident)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # registered at the same moment by someone else
        raise Conflict(
            Text("已登记使用此身份证号的居民", "A resident with this ID number is registered"),
            code="resident_exists",
        ) from exc
    if household is not None and body.relationship_to_head == "head":
        household.head_resident_id = resident.id
        session.add(household)
        await session.flush()
    return resident


def resident_read(
    resident: Resident, cipher: PiiCipher, *, reveal: bool, tags: Sequence[str]
) -> ResidentRead:
    id_number = cipher.decrypt(resident.id_number_enc, field=ID_FIELD)
    phone = cipher.decrypt(resident.phone_enc, field=PHONE_FIELD) if resident.phone_enc else None
    return ResidentRead(
        id=resident.id,
        area_id=resident.area_id,
        area_path=resident.area_path,
        name=resident.name,
        gender=resident.gender,
        birth_on=resident.birth_on,
        id_number=id_number if reveal else (mask_id_number(id_number) or ""),
        phone=phone if reveal else mask_phone(phone),
        revealed=reveal,
        ethnicity=resident.ethnicity,
        registered_address=resident.registered_address,
        current_address_id=resident.current_address_id,
        current_address_text=resident.current_address_text,
        migrant_status=resident.migrant_status,
        household_id=resident.household_id,
        relationship_to_head=resident.relationship_to_head,
        special_groups=sorted(SpecialGroup(t) for t in tags),
        created_at=resident.created_at,
        updated_at=resident.updated_at,
    )


async def residents_read(
    session: AsyncSession,
    cipher: PiiCipher,
    principal: Principal,
    residents: Sequence[Resident],
    *,
    reveal: bool,
    reason: str | None,
) -> list[ResidentRead]:
    """Residents as the caller may see them: tags filtered by grants; a revealed read is
    audited (one record naming every resident shown)."""
    granted = await privacy.granted_tags(session, principal)
    tags: dict[uuid.UUID, list[str]] = {}
    for row in await repository.tags_of(session, [r.id for r in residents], granted):
        tags.setdefault(row.resident_id, []).append(row.tag)
    if reveal and residents:
        await privacy.record(
            session,
            principal,
            action=AuditAction.reveal,
            subject_kind="resident",
            subject_ids=[str(r.id) for r in residents],
            fields=["id_number", "phone"],
            reason=reason or "",
        )
    return [resident_read(r, cipher, reveal=reveal, tags=tags.get(r.id, [])) for r in residents]


async def require_grant(session: AsyncSession, principal: Principal, tag: SpecialGroup) -> None:
    if tag.value not in await privacy.granted_tags(session, principal):
        raise Forbidden(
            Text("您没有获得此特殊人群标签的授权", "You were not granted this special-group tag"),
            code="special_group_not_granted",
        )


# ------------------------------------------------------------------ organisations, key places


def organisation_read(org: Organisation, cipher: PiiCipher, *, reveal: bool) -> OrganisationRead:
    phone = (
        cipher.decrypt(org.contact_phone_enc, field=ORG_PHONE_FIELD)
        if org.contact_phone_enc
        else None
    )
    return OrganisationRead(
        id=org.id,
        area_id=org.area_id,
        area_path=org.area_path,
        kind=org.kind,
        name=org.name,
        credit_code=org.credit_code,
        legal_representative=org.legal_representative,
        address_id=org.address_id,
        address_text=org.address_text,
        contact_phone=phone if reveal else mask_phone(phone),
        employee_count=org.employee_count,
        created_at=org.created_at,
    )


def key_place_read(place: KeyPlace, cipher: PiiCipher, *, reveal: bool) -> KeyPlaceRead:
    phone = (
        cipher.decrypt(place.responsible_phone_enc, field=PLACE_PHONE_FIELD)
        if place.responsible_phone_enc
        else None
    )
    return KeyPlaceRead(
        id=place.id,
        area_id=place.area_id,
        area_path=place.area_path,
        name=place.name,
        kind=place.kind,
        address_text=place.address_text,
        lat=place.lat,
        lng=place.lng,
        responsible_name=place.responsible_name,
        responsible_phone=phone if reveal else mask_phone(phone),
        created_at=place.created_at,
    )
