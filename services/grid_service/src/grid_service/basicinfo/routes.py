"""``/api/v1``: basic information (一标三实) — addresses, buildings, houses, households,
residents, organisations, key places, special-group tags, spreadsheet import and export."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from grid_service.basicinfo import imports, matching, repository, service
from grid_service.basicinfo.models import (
    Building,
    House,
    Household,
    KeyPlace,
    Organisation,
    Resident,
    SpecialGroupTag,
    StandardAddress,
)
from grid_service.basicinfo.schemas import (
    AddressCreate,
    AddressMatchRequest,
    BuildingCreate,
    BuildingRead,
    HouseCreate,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdRead,
    HouseholdUpdate,
    HouseRead,
    ImportResult,
    KeyPlaceCreate,
    KeyPlaceRead,
    OrganisationCreate,
    OrganisationRead,
    ResidentCreate,
    ResidentLookup,
    ResidentRead,
    ResidentUpdate,
    SpecialGroupPatch,
    SpecialGroupRead,
    SpecialGroupSet,
    TaggedResident,
)
from grid_service.basicinfo.service import StaffDep, invalid, scope_paths
from grid_service.basicinfo.specialgroups import SpecialGroup, validate_details
from grid_service.privacy import service as privacy
from grid_service.privacy.crypto import normalise
from grid_service.privacy.deps import CipherDep, RevealDep, SettingsDep, example_response
from grid_service.privacy.models import AuditAction
from shared.auth import CurrentPrincipal, Principal, Role
from shared.contracts.addresses import (
    AddressCandidate,
    AddressMatchResult,
    AddressPlacement,
    AddressRead,
    MatchStatus,
    ParsedAddressRead,
)
from shared.contracts.grids import AreaRef
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import Conflict, Forbidden, NotFound, ValidationFailed, problem_responses

ADDRESS_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "street_address": "文三路90号",
    "building_no": "3",
    "unit_no": "2",
    "room_no": "301",
    "created_at": "2026-11-23T12:00:00Z",
}
BUILDING_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "building_no": "3",
    "name": "3幢",
    "use": "residential",
    "floors": 6,
    "created_at": "2026-11-23T12:00:00Z",
}
HOUSE_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "building_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "use": "residential",
    "ownership": "private",
    "rented": True,
    "floor_area_m2": 89.5,
    "created_at": "2026-11-23T12:00:00Z",
}
HOUSEHOLD_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "household_no": "H-301",
    "address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "head_resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "is_key": False,
    "is_hardship": True,
    "responsible_worker_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "last_visited_at": "2026-11-01T02:00:00Z",
    "next_visit_due_at": "2026-12-01T02:00:00Z",
    "created_at": "2026-11-23T12:00:00Z",
}
TAG_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "tag": "community_correction",
    "attention_level": "key",
    "helper_name": "王芳",
    "follow_up_interval_days": 30,
    "last_followed_up_on": "2026-11-20",
    "next_follow_up_on": "2026-12-20",
    "details": {"correction_kind": "probation", "term_starts_on": "2026-01-01"},
    "created_at": "2026-11-23T12:00:00Z",
    "updated_at": "2026-11-23T12:00:00Z",
}
ORG_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "kind": "individual_business",
    "name": "好邻居便利店",
    "credit_code": "92330106MA2H0X0X0X",
    "legal_representative": "李娜",
    "address_id": None,
    "address_text": "文三路92号",
    "contact_phone": "138****5678",
    "employee_count": 3,
    "created_at": "2026-11-23T12:00:00Z",
}
PLACE_EXAMPLE = {
    "id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "name": "文三路加油站",
    "kind": "gas_station",
    "address_text": "文三路100号",
    "lat": 30.2741,
    "lng": 120.1303,
    "responsible_name": "赵强",
    "responsible_phone": "138****5678",
    "created_at": "2026-11-23T12:00:00Z",
}
IMPORT_EXAMPLE = {"kind": "residents", "rows": 120, "created": 120, "households": 41}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "next_cursor": None}


router = APIRouter(prefix="/api/v1", tags=["basic information"])

AreaPathQuery = Annotated[
    str | None,
    Query(
        max_length=400,
        description="only rows in this area or below (default: all of the caller's areas)",
        examples=["330100.330106.330106001.330106001001.330106001001001"],
    ),
]
RID = "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12"
GRID = "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001"
PATH = "330100.330106.330106001.330106001001.330106001001001"
RESIDENT_EXAMPLE = {
    "id": RID,
    "area_id": GRID,
    "area_path": PATH,
    "name": "张伟",
    "gender": "female",
    "birth_on": "1949-12-31",
    "id_number": "110***********002X",
    "phone": "138****5678",
    "revealed": False,
    "ethnicity": "汉族",
    "registered_address": "浙江省杭州市西湖区文三路90号",
    "current_address_id": "6a2d4e1b-1d1f-4062-9f8f-3b5d7c9e1f23",
    "migrant_status": "registered",
    "household_id": "7b3e5f2c-2e2f-4173-8a9a-4c6e8d0f2a34",
    "relationship_to_head": "head",
    "special_groups": [],
    "created_at": "2026-11-23T12:00:00Z",
    "updated_at": "2026-11-23T12:00:00Z",
}


def _ok(example: Any, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return example_response(example, status)


def _table(model: Any) -> Any:
    return model.__table__


async def _unique(session: SessionDep, what: str) -> None:
    """Flush, turning a unique violation into a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            Text(f"此{what}已登记", f"This {what} is already registered"), code=f"{what}_exists"
        ) from exc


# ------------------------------------------------------------------ standard addresses


@router.post(
    "/addresses",
    status_code=201,
    response_model=AddressRead,
    summary="Register a standard address (标准地址)",
    description="Grid workers, leaders and admins whose areas cover the grid. A street "
    "address with its building, unit and room is unique within a grid, as normalised for "
    "matching (三幢 and 3 are one building; see `POST /addresses/match`).",
    responses=_ok(
        {
            "id": RID,
            "area_id": GRID,
            "area_path": PATH,
            "street_address": "文三路90号",
            "building_no": "3",
            "unit_no": "2",
            "room_no": "301",
            "created_at": "2026-11-23T12:00:00Z",
        },
        201,
    )
    | problem_responses(401, 403, 409, 422),
)
async def create_address(
    session: SessionDep, principal: StaffDep, body: AddressCreate
) -> AddressRead:
    area = await service.area_in_scope(session, principal, body.area_id)
    address = StandardAddress(**body.model_dump(), area_path=area.path)
    session.add(address)
    await _unique(session, "address")
    return AddressRead.model_validate(address)


@router.get(
    "/addresses",
    response_model=Page[AddressRead],
    summary="List standard addresses",
    description="Staff, inside their areas; oldest first.",
    responses=example_response(_page(ADDRESS_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_addresses(
    session: SessionDep, principal: StaffDep, page: PageDep, area_path: AreaPathQuery = None
) -> Page[AddressRead]:
    t = _table(StandardAddress)
    return await paginate(
        session,
        repository.list_statement(StandardAddress, scope_paths(principal, area_path)),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=AddressRead.model_validate,
    )


MATCH_SCOPE = "addresses:match"
MATCH_ROLES = (
    Role.grid_worker,
    Role.grid_leader,
    Role.dispatcher,
    Role.department_handler,
    Role.supervisor,
    Role.admin,
)


def _may_match(principal: CurrentPrincipal) -> Principal:
    """Staff, or a platform client with the scope (case_service placing cases); checked before
    the body is read."""
    if principal.has_role(*MATCH_ROLES) or MATCH_SCOPE in principal.scopes:
        return principal
    raise Forbidden(
        Text(
            f"地址匹配供工作人员或具有权限范围 {MATCH_SCOPE} 的平台使用",
            f"Address matching is for staff or platforms with the scope {MATCH_SCOPE}",
        ),
        code="missing_scope",
    )


MATCH_EXAMPLE = {
    "normalized": "宝石山下1弄12号",
    "parsed": {"street": "宝石山下1弄12号", "place": "", "building": "", "unit": "", "room": ""},
    "status": "matched",
    "candidates": [
        {
            "address": {**ADDRESS_EXAMPLE, "street_address": "宝石山下一弄12号"},
            "score": 0.95,
            "method": "exact",
            "area": {
                "id": GRID,
                "code": "330106001001001",
                "name": "西溪第一网格",
                "level": "grid",
                "path": PATH,
            },
            "ancestors": [
                {
                    "id": "0f3c5f0e-3a57-5d2b-9f0e-8a1c3b5d7e90",
                    "code": "330100",
                    "name": "杭州市",
                    "level": "city",
                    "path": "330100",
                }
            ],
        }
    ],
}


@router.post(
    "/addresses/match",
    response_model=AddressMatchResult,
    summary="Match an address against the standard-address register (地址匹配)",
    description="Normalises the address as people say or type it (province/city/district/"
    "street prefixes dropped, full-width digits and letters, Chinese numerals in 幢/单元/号/弄/室 "
    'positions, 幢/栋/号楼/座 as one, "501" = "501室", "3-2-501", spaces and '
    "punctuation), then finds register entries with the same street and building (and unit and "
    "room where given) — an index lookup on the stored normalised form — and, when there are "
    "none, the most similar entries (pg_trgm). Candidates are ranked by `score` with the grid "
    "each lies in. `status` tells whether the address is placed: `matched` (case_service files "
    "the case in that grid), `ambiguous` or `unmatched` (the case waits as 待定位). Staff search "
    "inside their areas (`area_path` narrows it); platform clients need the scope "
    f"`{MATCH_SCOPE}`.",
    responses=_ok(MATCH_EXAMPLE) | problem_responses(401, 403, 422),
)
async def match_address(
    session: SessionDep,
    principal: Annotated[Principal, Depends(_may_match)],
    body: AddressMatchRequest,
) -> AddressMatchResult:
    if principal.has_role(*MATCH_ROLES):
        paths: list[str] | None = scope_paths(principal, body.area_path)
    else:
        paths = [body.area_path] if body.area_path else None
    outcome = await matching.match(session, body.address, paths=paths, limit=body.limit)
    chains = await matching.area_chains(session, {c.address.area_path for c in outcome.candidates})
    candidates = []
    for c in outcome.candidates:
        chain = chains.get(c.address.area_path) or []
        if not chain:
            continue
        refs = [AreaRef.model_validate(a, from_attributes=True) for a in chain]
        candidates.append(
            AddressCandidate(
                address=AddressRead.model_validate(c.address),
                score=c.score,
                method=c.method,
                area=refs[-1],
                ancestors=refs[:-1],
            )
        )
    parsed = outcome.parsed
    return AddressMatchResult(
        normalized=parsed.normalized,
        parsed=ParsedAddressRead(
            street=parsed.street,
            place=parsed.place,
            building=parsed.building,
            unit=parsed.unit,
            room=parsed.room,
        ),
        status=MatchStatus(outcome.status),
        candidates=candidates,
    )


@router.get(
    "/addresses/{address_id}",
    response_model=AddressPlacement,
    summary="One standard address with its grid (地址定位)",
    description="The register entry with the grid it lies in and the grid's ancestors, as "
    "`POST /addresses/match` gives them for a candidate: case_service's `locate` action places "
    "a case by a standard address id through it. Staff see the addresses inside their areas "
    f"(others are 404); platform clients need the scope `{MATCH_SCOPE}`.",
    responses=_ok(
        {
            "address": {**ADDRESS_EXAMPLE, "street_address": "宝石山下一弄12号"},
            "area": MATCH_EXAMPLE["candidates"][0]["area"],  # type: ignore[index]
            "ancestors": MATCH_EXAMPLE["candidates"][0]["ancestors"],  # type: ignore[index]
        }
    )
    | problem_responses(401, 403, 404, 422),
)
async def get_address(
    session: SessionDep,
    principal: Annotated[Principal, Depends(_may_match)],
    address_id: uuid.UUID,
) -> AddressPlacement:
    address = await repository.get(session, StandardAddress, address_id)
    paths = list(principal.area_paths) if principal.has_role(*MATCH_ROLES) else []
    if address is not None and paths and not principal.covers_area(address.area_path):
        address = None
    chain = (
        (await matching.area_chains(session, {address.area_path})).get(address.area_path)
        if address is not None
        else None
    )
    if address is None or not chain:
        raise NotFound(
            Text("没有这个标准地址", "No such standard address"), code="address_not_found"
        )
    refs = [AreaRef.model_validate(a, from_attributes=True) for a in chain]
    return AddressPlacement(
        address=AddressRead.model_validate(address), area=refs[-1], ancestors=refs[:-1]
    )


# ------------------------------------------------------------------ buildings and houses


@router.post(
    "/buildings",
    status_code=201,
    response_model=BuildingRead,
    summary="Register a building (建筑物)",
    description="Staff whose areas cover the grid; the building number is unique in a grid.",
    responses=example_response(BUILDING_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def create_building(
    session: SessionDep, principal: StaffDep, body: BuildingCreate
) -> BuildingRead:
    area = await service.area_in_scope(session, principal, body.area_id)
    building = Building(**body.model_dump(), area_path=area.path)
    session.add(building)
    await _unique(session, "building")
    return BuildingRead.model_validate(building)


@router.get(
    "/buildings",
    response_model=Page[BuildingRead],
    summary="List buildings",
    description="Staff, inside their areas; oldest first.",
    responses=example_response(_page(BUILDING_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_buildings(
    session: SessionDep, principal: StaffDep, page: PageDep, area_path: AreaPathQuery = None
) -> Page[BuildingRead]:
    t = _table(Building)
    return await paginate(
        session,
        repository.list_statement(Building, scope_paths(principal, area_path)),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=BuildingRead.model_validate,
    )


@router.post(
    "/houses",
    status_code=201,
    response_model=HouseRead,
    summary="Register a house (实有房屋) at a standard address",
    description="Use, ownership (产权) and whether it is rented out (出租屋). One house per "
    "address.",
    responses=example_response(HOUSE_EXAMPLE, 201) | problem_responses(401, 403, 404, 409, 422),
)
async def create_house(session: SessionDep, principal: StaffDep, body: HouseCreate) -> HouseRead:
    address = await repository.get(session, StandardAddress, body.address_id)
    if address is None:
        raise invalid(
            "address_id",
            Text("没有这个标准地址", "no such standard address"),
            code="address_not_found",
        )
    area = await service.area_in_scope(session, principal, address.area_id, field="address_id")
    if body.building_id is not None:
        building = await repository.get(session, Building, body.building_id)
        if building is None or building.area_id != area.id:
            raise invalid(
                "building_id",
                Text("本网格没有这栋楼", "no such building in this grid"),
                code="building_not_found",
            )
    house = House(**body.model_dump(), area_path=area.path)
    session.add(house)
    await _unique(session, "house")
    return HouseRead.model_validate(house)


@router.get(
    "/houses",
    response_model=Page[HouseRead],
    summary="List houses",
    description="Staff, inside their areas; `rented=true` lists rented houses (出租屋).",
    responses=example_response(_page(HOUSE_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_houses(
    session: SessionDep,
    principal: StaffDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
    rented: Annotated[bool | None, Query(description="only rented (or not rented) houses")] = None,
) -> Page[HouseRead]:
    t = _table(House)
    return await paginate(
        session,
        repository.list_statement(House, scope_paths(principal, area_path), rented=rented),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=HouseRead.model_validate,
    )


# ------------------------------------------------------------------ households


@router.post(
    "/households",
    status_code=201,
    response_model=HouseholdRead,
    summary="Register a household (户)",
    description="Staff whose areas cover the grid. Flags: key household (重点户), hardship "
    "household (困难户); they set the visit cadence. The household number is unique in a grid.",
    responses=example_response(HOUSEHOLD_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def create_household(
    session: SessionDep, principal: StaffDep, settings: SettingsDep, body: HouseholdCreate
) -> HouseholdRead:
    area = await service.area_in_scope(session, principal, body.area_id)
    await service.address_in_area(session, body.address_id, area, field="address_id")
    await service.check_responsible_worker(
        session, body.responsible_worker_id, area.path, field="responsible_worker_id"
    )
    now = utcnow()
    household = Household(
        **body.model_dump(), area_path=area.path, created_at=now, next_visit_due_at=now
    )
    household.next_visit_due_at = service.next_visit_due(settings, household)
    session.add(household)
    await _unique(session, "household")
    return HouseholdRead.model_validate(household)


@router.get(
    "/households",
    response_model=Page[HouseholdRead],
    summary="List households",
    description="Staff, inside their areas; filter key (重点户) or hardship (困难户) households.",
    responses=example_response(_page(HOUSEHOLD_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_households(
    session: SessionDep,
    principal: StaffDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
    is_key: Annotated[bool | None, Query(description="key households only")] = None,
    is_hardship: Annotated[bool | None, Query(description="hardship households only")] = None,
) -> Page[HouseholdRead]:
    t = _table(Household)
    return await paginate(
        session,
        repository.list_statement(
            Household, scope_paths(principal, area_path), is_key=is_key, is_hardship=is_hardship
        ),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=HouseholdRead.model_validate,
    )


@router.get(
    "/households/{household_id}",
    response_model=HouseholdDetail,
    summary="Get a household with its members",
    description="Members' ID and phone numbers are masked unless `reveal=true` (allowed roles, "
    "with a `reason`; audited).",
    responses=example_response({**HOUSEHOLD_EXAMPLE, "members": [RESIDENT_EXAMPLE]}, 200)
    | problem_responses(401, 403, 404, 422),
)
async def get_household(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    reveal: RevealDep,
    household_id: uuid.UUID,
) -> HouseholdDetail:
    household = await service.in_scope(
        session, principal, Household, household_id, what="household"
    )
    show = privacy.check_reveal(principal, settings, reveal=reveal.reveal, reason=reveal.reason)
    members = await service.residents_read(
        session,
        cipher,
        principal,
        await repository.members(session, household.id),
        reveal=show,
        reason=reveal.reason,
    )
    return HouseholdDetail(**HouseholdRead.model_validate(household).model_dump(), members=members)


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdRead,
    summary="Change a household's flags, head, address or responsible worker",
    description="Staff inside the household's grid. Changing the key/hardship flags recomputes "
    "when the next visit is due.",
    responses=example_response(HOUSEHOLD_EXAMPLE, 200) | problem_responses(401, 403, 404, 422),
)
async def update_household(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    household_id: uuid.UUID,
    body: HouseholdUpdate,
) -> HouseholdRead:
    household = await service.in_scope(
        session, principal, Household, household_id, what="household", lock=True
    )
    changes = body.model_dump(exclude_unset=True)
    for name in ("is_key", "is_hardship"):
        if name in changes and changes[name] is None:
            raise invalid(name, Text("不能为空", "cannot be null"))
    if changes.get("head_resident_id") is not None:
        head = await repository.get(session, Resident, changes["head_resident_id"])
        if head is None or head.household_id != household.id:
            raise invalid(
                "head_resident_id", Text("不是这户的成员", "not a member of this household")
            )
    if changes.get("address_id") is not None:
        address = await repository.get(session, StandardAddress, changes["address_id"])
        if address is None or address.area_id != household.area_id:
            raise invalid(
                "address_id",
                Text("本网格没有这个标准地址", "no such standard address in this grid"),
            )
    if changes.get("responsible_worker_id") is not None:
        await service.check_responsible_worker(
            session,
            changes["responsible_worker_id"],
            household.area_path,
            field="responsible_worker_id",
        )
    for key, value in changes.items():
        setattr(household, key, value)
    household.next_visit_due_at = service.next_visit_due(settings, household)
    session.add(household)
    await session.flush()
    return HouseholdRead.model_validate(household)


# ------------------------------------------------------------------ residents


@router.post(
    "/residents",
    status_code=201,
    response_model=ResidentRead,
    summary="Register a resident (实有人口)",
    description="Staff whose areas cover the grid. The ID number must pass the GB 11643 "
    "check; gender and birth date default to what it encodes. ID and phone numbers are stored "
    "encrypted and answered masked.",
    responses=_ok(RESIDENT_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def create_resident(
    session: SessionDep, principal: StaffDep, cipher: CipherDep, body: ResidentCreate
) -> ResidentRead:
    resident = await service.create_resident(session, cipher, principal, body)
    return service.resident_read(resident, cipher, reveal=False, tags=[])


@router.get(
    "/residents",
    response_model=Page[ResidentRead],
    summary="List residents",
    description="Staff, inside their areas; oldest first. Numbers are masked unless "
    "`reveal=true` (allowed roles, with a `reason`; one audit record per page). To find a "
    "resident by ID or phone number use `POST /api/v1/residents/lookup` (numbers never travel "
    "in a URL).",
    responses=_ok({"items": [RESIDENT_EXAMPLE], "next_cursor": None})
    | problem_responses(401, 403, 422),
)
async def list_residents(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    reveal: RevealDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
    household_id: Annotated[uuid.UUID | None, Query(description="members of a household")] = None,
) -> Page[ResidentRead]:
    show = privacy.check_reveal(principal, settings, reveal=reveal.reveal, reason=reveal.reason)
    stmt = repository.list_statement(
        Resident, scope_paths(principal, area_path), household_id=household_id
    )
    t = _table(Resident)
    rows = await paginate(
        session,
        stmt,
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=lambda r: r,
    )
    items = await service.residents_read(
        session, cipher, principal, rows.items, reveal=show, reason=reveal.reason
    )
    return Page[ResidentRead](items=items, next_cursor=rows.next_cursor)


@router.post(
    "/residents/lookup",
    response_model=list[ResidentRead],
    summary="Find residents by exact ID or phone number",
    description="Staff, inside their areas. The numbers are stored encrypted; the lookup goes "
    "through their keyed hash, so only an exact number matches. The number is sent in the body, "
    "never in a URL (URLs end up in logs and browser history). Answers are masked unless "
    "`reveal=true` (allowed roles, with a `reason`; audited). At most 100 matches.",
    responses=_ok([RESIDENT_EXAMPLE]) | problem_responses(401, 403, 422),
)
async def lookup_residents(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    reveal: RevealDep,
    body: ResidentLookup,
) -> list[ResidentRead]:
    show = privacy.check_reveal(principal, settings, reveal=reveal.reveal, reason=reveal.reason)
    stmt = repository.list_statement(Resident, list(principal.area_paths))
    if body.id_number is not None:
        stmt = stmt.where(
            col(Resident.id_number_hash) == cipher.lookup_hash(normalise(body.id_number))
        )
    if body.phone is not None:
        stmt = stmt.where(col(Resident.phone_hash) == cipher.lookup_hash(body.phone))
    t = _table(Resident)
    result = await session.execute(stmt.order_by(t.c.created_at, t.c.id).limit(100))
    return await service.residents_read(
        session,
        cipher,
        principal,
        list(result.scalars().all()),
        reveal=show,
        reason=reveal.reason,
    )


def _address_cells(address: StandardAddress | None, text: str | None) -> list[str]:
    """楼栋, 单元, 室 and 现住址 as the import reads them back."""
    if address is None:
        return ["", "", "", text or ""]
    return [address.building_no, address.unit_no, address.room_no, address.street_address]


EXPORT_HEADER = [
    "姓名",
    "公民身份号码",
    "联系电话",
    "性别",
    "出生日期",
    "民族",
    "户籍地详址",
    "人口类型",
    "户号",
    "与户主关系",
    "楼栋",
    "单元",
    "室",
    "现住址",
]


@router.get(
    "/residents/export",
    response_class=Response,
    summary="Export residents as CSV",
    description="Staff, inside their areas; `reason` is required for every export and is "
    "recorded in the audit trail with the number of rows. Numbers are masked unless "
    "`reveal=true` (allowed roles only). At most 50 000 rows. The columns are the import's "
    "(with 楼栋/单元/室 and 现住址): an export with `reveal=true` can be imported again; a "
    "masked one is refused row by row (masked ID numbers).",
    responses={
        200: {
            "content": {
                "text/csv": {
                    "example": "姓名,公民身份号码,联系电话\n张伟,110***********002X,138****5678\n"
                }
            }
        },
        **problem_responses(401, 403, 422),
    },
)
async def export_residents(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    reason: Annotated[
        str, Query(min_length=2, max_length=500, description="why", examples=["季度报表"])
    ],
    reveal: Annotated[bool, Query(description="full numbers (allowed roles only)")] = False,
    area_path: AreaPathQuery = None,
) -> Response:
    show = privacy.check_reveal(principal, settings, reveal=reveal, reason=reason)
    paths = scope_paths(principal, area_path)
    t = _table(Resident)
    result = await session.execute(
        repository.list_statement(Resident, paths).order_by(t.c.created_at, t.c.id).limit(50_000)
    )
    residents = list(result.scalars().all())
    households = {
        h.id: h.household_no
        for h in (await session.execute(repository.list_statement(Household, paths))).scalars()
    }
    address_ids = {r.current_address_id for r in residents if r.current_address_id}
    addresses = await repository.addresses_by_id(session, address_ids)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    labels = {"male": "男", "female": "女"}
    kinds = {"registered": "户籍人口", "migrant": "流动人口", "overseas": "境外人员"}
    rels = {
        v: k
        for k, v in imports.RELATIONSHIPS.items()
        if k in {"户主", "配偶", "子女", "父母", "孙子", "祖父", "兄", "其他"}
    }
    for r in residents:
        read = service.resident_read(r, cipher, reveal=show, tags=[])
        writer.writerow(
            [
                r.name,
                read.id_number,
                read.phone or "",
                labels.get(r.gender, ""),
                r.birth_on.isoformat(),
                r.ethnicity or "",
                r.registered_address or "",
                kinds.get(r.migrant_status, ""),
                households.get(r.household_id, "") if r.household_id else "",
                rels.get(r.relationship_to_head or "", ""),
                *_address_cells(addresses.get(r.current_address_id), r.current_address_text),
            ]
        )
    await privacy.record(
        session,
        principal,
        action=AuditAction.export,
        subject_kind="resident",
        subject_ids=[str(r.id) for r in residents],
        fields=["name", "id_number", "phone"] if show else ["name"],
        reason=reason,
        detail={"area_paths": paths, "revealed": show, "format": "csv"},
    )
    return Response(
        content=("\ufeff" + out.getvalue()).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="residents.csv"'},
    )


@router.get(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="Get a resident",
    description="Staff, inside their areas. Masked unless `reveal=true` (allowed roles, with a "
    "`reason`; audited). Special-group tags appear only when the caller was granted them.",
    responses=_ok(RESIDENT_EXAMPLE) | problem_responses(401, 403, 404, 422),
)
async def get_resident(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    reveal: RevealDep,
    resident_id: uuid.UUID,
) -> ResidentRead:
    resident = await service.in_scope(session, principal, Resident, resident_id, what="resident")
    show = privacy.check_reveal(principal, settings, reveal=reveal.reveal, reason=reveal.reason)
    (read,) = await service.residents_read(
        session, cipher, principal, [resident], reveal=show, reason=reveal.reason
    )
    return read


@router.patch(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="Change a resident's details",
    description="Staff inside the resident's grid. The ID number cannot be changed (register "
    "the person again if it was wrong).",
    responses=_ok(RESIDENT_EXAMPLE) | problem_responses(401, 403, 404, 422),
)
async def update_resident(
    session: SessionDep,
    principal: StaffDep,
    cipher: CipherDep,
    resident_id: uuid.UUID,
    body: ResidentUpdate,
) -> ResidentRead:
    resident = await service.in_scope(
        session, principal, Resident, resident_id, what="resident", lock=True
    )
    area = await service.area_in_scope(session, principal, resident.area_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise invalid("name", Text("不能为空", "cannot be null"))
    if "migrant_status" in changes and changes["migrant_status"] is None:
        raise invalid("migrant_status", Text("不能为空", "cannot be null"))
    if "phone" in changes:
        phone = changes.pop("phone")
        resident.phone_enc = cipher.encrypt(phone, field=service.PHONE_FIELD) if phone else None
        resident.phone_hash = cipher.lookup_hash(phone) if phone else None
    if changes.get("current_address_id") is not None:
        await service.address_in_area(
            session, changes["current_address_id"], area, field="current_address_id"
        )
    if changes.get("household_id") is not None:
        await service.household_in_area(
            session, changes["household_id"], area, field="household_id"
        )
    for key, value in changes.items():
        setattr(resident, key, value.value if hasattr(value, "value") else value)
    resident.updated_at = utcnow()
    session.add(resident)
    await session.flush()
    (read,) = await service.residents_read(
        session, cipher, principal, [resident], reveal=False, reason=None
    )
    return read


# ------------------------------------------------------------------ special groups


def _tag_read(row: SpecialGroupTag) -> SpecialGroupRead:
    return SpecialGroupRead.model_validate(row)


@router.get(
    "/residents/{resident_id}/special-groups",
    response_model=list[SpecialGroupRead],
    summary="A resident's special-group tags the caller may see",
    description="Staff inside the resident's grid; only tags the caller was granted are listed "
    "— the others are not shown at all.",
    responses=example_response([TAG_EXAMPLE], 200) | problem_responses(401, 403, 404),
)
async def list_resident_tags(
    session: SessionDep, principal: StaffDep, resident_id: uuid.UUID
) -> list[SpecialGroupRead]:
    resident = await service.in_scope(session, principal, Resident, resident_id, what="resident")
    granted = await privacy.granted_tags(session, principal)
    return [_tag_read(t) for t in await repository.tags_of(session, [resident.id], granted)]


@router.put(
    "/residents/{resident_id}/special-groups/{tag}",
    response_model=SpecialGroupRead,
    summary="Tag a resident with a special group, or change the tag's follow-up fields",
    description="Only accounts granted this tag (see `/api/v1/privacy/special-group-grants`), "
    "inside the resident's grid. `details` holds the group's own follow-up fields.",
    responses=example_response(TAG_EXAMPLE, 200) | problem_responses(401, 403, 404, 422),
)
async def set_tag(
    session: SessionDep,
    principal: StaffDep,
    resident_id: uuid.UUID,
    tag: SpecialGroup,
    body: SpecialGroupSet,
) -> SpecialGroupRead:
    resident = await service.in_scope(session, principal, Resident, resident_id, what="resident")
    await service.require_grant(session, principal, tag)
    details, problems = validate_details(tag, body.details)
    if problems:
        raise ValidationFailed(Text("跟进字段无效", "Invalid follow-up fields"), errors=problems)
    row = await repository.tag(session, resident.id, tag.value)
    fields = body.model_dump(exclude={"details"})
    if row is None:
        row = SpecialGroupTag(
            resident_id=resident.id,
            area_path=resident.area_path,
            tag=tag.value,
            details=details,
            created_by=principal.subject,
            **fields,
        )
    else:
        for key, value in fields.items():
            setattr(row, key, value)
        row.details = details
        row.updated_at = utcnow()
    row.next_follow_up_on = service.next_follow_up(row)
    session.add(row)
    await session.flush()
    return _tag_read(row)


@router.patch(
    "/residents/{resident_id}/special-groups/{tag}",
    response_model=SpecialGroupRead,
    summary="Change some fields of a tag, or record a follow-up (随访)",
    description="Only accounts granted this tag, inside the resident's grid. Only the fields "
    "sent change (PUT replaces the whole tag): a form saved without `last_followed_up_on` "
    "keeps it. In `details` a key sent is set, a key sent as `null` is removed. Recording a "
    'follow-up is `{"last_followed_up_on": "2026-12-06"}`; the next one falls due '
    "`follow_up_interval_days` later.",
    responses=example_response(TAG_EXAMPLE, 200) | problem_responses(401, 403, 404, 422),
)
async def patch_tag(
    session: SessionDep,
    principal: StaffDep,
    resident_id: uuid.UUID,
    tag: SpecialGroup,
    body: SpecialGroupPatch,
) -> SpecialGroupRead:
    resident = await service.in_scope(session, principal, Resident, resident_id, what="resident")
    await service.require_grant(session, principal, tag)
    row = await repository.tag(session, resident.id, tag.value)
    if row is None:
        raise NotFound(
            Text("该居民没有这个标签", "The resident has no such tag"),
            code="special_group_tag_not_found",
        )
    changes = body.model_dump(exclude_unset=True, exclude={"details"})
    if "attention_level" in changes and changes["attention_level"] is None:
        raise invalid("attention_level", Text("不能为空", "cannot be null"))
    merged = dict(row.details)
    for key, value in (body.details or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    details, problems = validate_details(tag, merged)
    if problems:
        raise ValidationFailed(Text("随访字段有误", "Invalid follow-up fields"), errors=problems)
    for key, value in changes.items():
        setattr(row, key, value)
    row.details = details
    row.updated_at = utcnow()
    row.next_follow_up_on = service.next_follow_up(row)
    session.add(row)
    await session.flush()
    return _tag_read(row)


@router.get(
    "/special-groups/follow-ups/due",
    response_model=Page[TaggedResident],
    summary="Special-group follow-ups due (随访到期)",
    description="Staff, inside their areas, for the tags they were granted (others are not "
    "listed at all): tags whose next follow-up falls within `GRID_VISIT_DUE_WINDOW_DAYS`, "
    "the most overdue first. Names and addresses masked.",
    responses=example_response(
        _page(
            {
                **TAG_EXAMPLE,
                "next_follow_up_on": "2026-12-20",
                "resident_name": "张*",
                "address": "文三路90号3栋2单元***室",
                "due": True,
            }
        ),
        200,
    )
    | problem_responses(401, 403, 422),
)
async def follow_ups_due(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
    tag: Annotated[SpecialGroup | None, Query(description="one group only")] = None,
) -> Page[TaggedResident]:
    granted = await privacy.granted_tags(session, principal)
    tags = [t for t in granted if tag is None or t == tag.value]
    horizon = service.follow_up_horizon(settings)
    t = _table(SpecialGroupTag)
    return await paginate(
        session,
        repository.tagged_statement(tags, scope_paths(principal, area_path), due_by=horizon),
        order_by=[t.c.next_follow_up_on, t.c.id],
        params=page,
        descending=False,
        scalars=False,
        to_item=lambda r: service.tagged_read(r, horizon),
    )


@router.delete(
    "/residents/{resident_id}/special-groups/{tag}",
    status_code=204,
    summary="Remove a special-group tag from a resident",
    description="Only accounts granted this tag, inside the resident's grid.",
    responses=problem_responses(401, 403, 404),
)
async def remove_tag(
    session: SessionDep, principal: StaffDep, resident_id: uuid.UUID, tag: SpecialGroup
) -> Response:
    resident = await service.in_scope(session, principal, Resident, resident_id, what="resident")
    await service.require_grant(session, principal, tag)
    row = await repository.tag(session, resident.id, tag.value)
    if row is None:
        raise NotFound(
            Text("该居民没有这个标签", "The resident has no such tag"),
            code="special_group_tag_not_found",
        )
    await session.delete(row)
    await session.flush()
    return Response(status_code=204)


@router.get(
    "/special-groups/{tag}/residents",
    response_model=Page[TaggedResident],
    summary="Residents tagged with one special group",
    description="Only accounts granted this tag, inside their areas; each with the resident's "
    "masked name and address and whether the follow-up is due.",
    responses=example_response(
        _page(
            {
                **TAG_EXAMPLE,
                "next_follow_up_on": "2026-12-20",
                "resident_name": "张*",
                "address": "文三路90号3栋2单元***室",
                "due": False,
            }
        ),
        200,
    )
    | problem_responses(401, 403, 422),
)
async def list_tagged(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    page: PageDep,
    tag: SpecialGroup,
    area_path: AreaPathQuery = None,
) -> Page[TaggedResident]:
    await service.require_grant(session, principal, tag)
    t = _table(SpecialGroupTag)
    horizon = service.follow_up_horizon(settings)
    return await paginate(
        session,
        repository.tagged_statement([tag.value], scope_paths(principal, area_path)),
        order_by=[t.c.area_path, t.c.id],
        params=page,
        descending=False,
        scalars=False,
        to_item=lambda r: service.tagged_read(r, horizon),
    )


# ------------------------------------------------------------------ organisations, key places


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationRead,
    summary="Register an organisation or business (单位/组织)",
    description="Staff whose areas cover the grid. The contact phone is stored encrypted.",
    responses=example_response(ORG_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def create_organisation(
    session: SessionDep, principal: StaffDep, cipher: CipherDep, body: OrganisationCreate
) -> OrganisationRead:
    area = await service.area_in_scope(session, principal, body.area_id)
    await service.address_in_area(session, body.address_id, area, field="address_id")
    data = body.model_dump(exclude={"contact_phone"})
    org = Organisation(
        **data,
        area_path=area.path,
        contact_phone_enc=cipher.encrypt(body.contact_phone, field=service.ORG_PHONE_FIELD)
        if body.contact_phone
        else None,
    )
    session.add(org)
    await _unique(session, "organisation")
    return service.organisation_read(org, cipher, reveal=False)


@router.get(
    "/organisations",
    response_model=Page[OrganisationRead],
    summary="List organisations and businesses",
    description="Staff, inside their areas; contact phones masked.",
    responses=example_response(_page(ORG_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_organisations(
    session: SessionDep,
    principal: StaffDep,
    cipher: CipherDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
) -> Page[OrganisationRead]:
    t = _table(Organisation)
    return await paginate(
        session,
        repository.list_statement(Organisation, scope_paths(principal, area_path)),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=lambda o: service.organisation_read(o, cipher, reveal=False),
    )


@router.post(
    "/key-places",
    status_code=201,
    response_model=KeyPlaceRead,
    summary="Register a key place (重点部位) with its responsible person",
    description="Staff whose areas cover the grid. Patrols check in at key places.",
    responses=example_response(PLACE_EXAMPLE, 201) | problem_responses(401, 403, 422),
)
async def create_key_place(
    session: SessionDep, principal: StaffDep, cipher: CipherDep, body: KeyPlaceCreate
) -> KeyPlaceRead:
    area = await service.area_in_scope(session, principal, body.area_id)
    place = KeyPlace(
        **body.model_dump(exclude={"responsible_phone"}),
        area_path=area.path,
        responsible_phone_enc=cipher.encrypt(
            body.responsible_phone, field=service.PLACE_PHONE_FIELD
        )
        if body.responsible_phone
        else None,
    )
    session.add(place)
    await session.flush()
    return service.key_place_read(place, cipher, reveal=False)


@router.get(
    "/key-places",
    response_model=Page[KeyPlaceRead],
    summary="List key places",
    description="Staff, inside their areas; responsible persons' phones masked.",
    responses=example_response(_page(PLACE_EXAMPLE), 200) | problem_responses(401, 403, 422),
)
async def list_key_places(
    session: SessionDep,
    principal: StaffDep,
    cipher: CipherDep,
    page: PageDep,
    area_path: AreaPathQuery = None,
) -> Page[KeyPlaceRead]:
    t = _table(KeyPlace)
    return await paginate(
        session,
        repository.list_statement(KeyPlace, scope_paths(principal, area_path)),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=lambda p: service.key_place_read(p, cipher, reveal=False),
    )


# ------------------------------------------------------------------ import


IMPORT_DESCRIPTION = (
    "Upload the sheet grid workers fill, as XLSX or CSV (UTF-8 or GB18030) with Chinese "
    "headers, into one grid (`area_id`). Every row is checked first; if any row is bad nothing "
    "is imported and the 422 lists every bad row (`row_errors`: row number as the spreadsheet "
    "shows it, column, reason)."
)
REJECTED_EXAMPLE = {
    "type": "https://gridgov.org/problems/import_rejected",
    "title": "The spreadsheet was not imported",
    "status": 422,
    "detail": "1 of 3 rows are invalid; nothing was imported",
    "code": "import_rejected",
    "errors": [
        {
            "field": "rows.3.公民身份号码",
            "reason": "校验码不符（GB 11643）",
            "type": "invalid",
        }
    ],
    "row_errors": [
        {
            "row": 3,
            "column": "公民身份号码",
            "reason": "校验码不符（GB 11643）",
        }
    ],
}


async def _read_sheet(file: UploadFile, settings: SettingsDep) -> imports.Sheet:
    data = await file.read()
    return await asyncio.to_thread(
        imports.parse, data, file.filename, max_rows=settings.basic_info_import_max_rows
    )


@router.post(
    "/basic-info/imports/residents",
    response_model=ImportResult,
    summary="Import residents from a spreadsheet",
    description=IMPORT_DESCRIPTION
    + " Columns: 姓名, 公民身份号码 (or 身份证号), 联系电话, 性别, 出生日期, 民族, 户籍地详址, "
    "人口类型 (户籍人口/流动人口/境外人员), 楼栋, 单元, 室 (a standard address of the grid), "
    "户号 (a household, created when new), 与户主关系 (户主, 配偶, 子女 …).",
    responses=example_response(IMPORT_EXAMPLE)
    | example_response(REJECTED_EXAMPLE, 422, "application/problem+json")
    | problem_responses(401, 403, 413),
)
async def import_residents(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    cipher: CipherDep,
    area_id: Annotated[uuid.UUID, Query(description="the grid the rows belong to")],
    file: Annotated[UploadFile, File(description="XLSX or CSV")],
) -> ImportResult:
    area = await service.area_in_scope(session, principal, area_id, field="query.area_id")
    sheet = await _read_sheet(file, settings)
    try:
        async with session.begin_nested():
            return await imports.import_residents(session, settings, cipher, area, sheet)
    except IntegrityError as exc:  # another import or registration won a race for a row
        raise Conflict(
            Text(
                "其间部分居民或户已被登记；请重新导入以查看是哪些行",
                "Some of these residents or households were registered meanwhile; import again "
                "to see which rows",
            ),
            code="import_conflict",
        ) from exc


@router.post(
    "/basic-info/imports/addresses",
    response_model=ImportResult,
    summary="Import standard addresses from a spreadsheet",
    description=IMPORT_DESCRIPTION + " Columns: 街路巷门牌, 楼栋, 单元, 室.",
    responses=example_response({**IMPORT_EXAMPLE, "kind": "addresses", "households": 0}, 200)
    | problem_responses(401, 403, 413, 422),
)
async def import_addresses(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    area_id: Annotated[uuid.UUID, Query(description="the grid the rows belong to")],
    file: Annotated[UploadFile, File(description="XLSX or CSV")],
) -> ImportResult:
    area = await service.area_in_scope(session, principal, area_id, field="query.area_id")
    sheet = await _read_sheet(file, settings)
    try:
        async with session.begin_nested():
            return await imports.import_addresses(session, area, sheet)
    except IntegrityError as exc:
        raise Conflict(
            Text(
                "其间部分地址已被登记；请重新导入以查看是哪些行",
                "Some of these addresses were registered meanwhile; import again to see which rows",
            ),
            code="import_conflict",
        ) from exc
