"""Placing cases through grid_service, *before* any transaction opens.

``POST /cases`` and the ``locate`` action cannot use ``SessionDep``: FastAPI resolves it before
the handler runs, which would hold a transaction (and a pooled connection) open during the call
to grid_service. So they ask grid_service first (:func:`locate`, :func:`locate_point`) and only
then open their own short transaction. The intake itself is ``case_service.intake``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service import actions
from case_service.cases import presenter, repository, service
from case_service.cases.lifecycle import Action
from case_service.cases.schemas import (
    CaseActionRequest,
    CaseCreate,
    CaseRead,
    LocateRequest,
)
from case_service.cases.service import Located
from case_service.clients.grid import GridClient
from shared.auth import Principal
from shared.contracts.addresses import MatchStatus
from shared.contracts.grids import AreaRef, CoordinateSystem
from shared.i18n import Text
from shared.logging import get_logger
from shared.problem import (
    FieldProblem,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)

log = get_logger(__name__)


def _outside() -> ValidationFailed:
    return ValidationFailed(
        Text(
            "该位置不在本辖区任何网格内",
            "The location lies outside every grid of this jurisdiction",
        ),
        code="outside_jurisdiction",
        errors=[
            FieldProblem(field="location", reason=Text("不在本辖区内", "outside the jurisdiction"))
        ],
    )


def _chain(areas: list[AreaRef]) -> list[dict[str, Any]]:
    return [
        {"path": a.path, "level": a.level.value, "name": a.name, "id": str(a.id)} for a in areas
    ]


async def locate_point(
    grid: GridClient, *, lat: float, lng: float, crs: CoordinateSystem
) -> Located:
    """The grid containing the point (grid_service's point location), or 422."""
    result = await grid.locate(lat=lat, lng=lng, crs=crs)
    if result is None:
        raise _outside()
    return Located(
        area_path=result.area.path,
        area_chain=_chain([*result.ancestors, result.area]),
        area_id=result.area.id,
        area_code=result.area.code,
        area_name=result.area.name,
        lat=result.lat,
        lng=result.lng,
        how={"located_by": "point"},
    )


def placed_at(
    area: AreaRef, ancestors: list[AreaRef], address_id: uuid.UUID, how: dict[str, Any]
) -> Located:
    """A case placed by a standard address: in the address's grid. The register keeps no
    point for an address, so the case has none."""
    return Located(
        area_path=area.path,
        area_chain=_chain([*ancestors, area]),
        area_id=area.id,
        area_code=area.code,
        area_name=area.name,
        address_id=address_id,
        how=how,
    )


def _match_area(principal: Principal) -> str | None:
    """Staff with one area look for the address inside it (fewer namesakes elsewhere)."""
    if principal.has_role(*service.STAFF_ROLES) and len(principal.area_paths) == 1:
        return principal.area_paths[0]
    return None


async def locate(
    grid: GridClient,
    principal: Principal,
    data: CaseCreate,
    *,
    default_area: str | None = None,
) -> Located:
    """Where a new case goes, asked of grid_service before any transaction opens.

    A point: the grid containing it. An address alone: grid_service's address matching; one
    confident match places the case in that address's grid (``located``). No match, several,
    or matching unavailable: the case is still taken, at the filer's own area (or
    ``default_area`` for filers without one), as ``to_locate`` (待定位) until a ``locate``
    action places it."""
    loc = data.location
    if loc.lat is not None and loc.lng is not None:
        return await locate_point(grid, lat=loc.lat, lng=loc.lng, crs=loc.crs)
    assert loc.address is not None  # LocationIn: a point or an address
    fallback = principal.area_paths[0] if principal.area_paths else default_area
    how: dict[str, Any]
    try:
        match = await grid.match_address(loc.address, area_path=_match_area(principal))
    except (UpstreamError, UpstreamUnavailable, UpstreamTimeout) as exc:
        if fallback is None:
            raise
        log.warning("address_matching_failed", error=exc.code)
        how = {"located_by": "address", "address_match": "unavailable"}
    else:
        if match.status is MatchStatus.matched and match.candidates:
            best = match.candidates[0]
            how = {
                "located_by": "address",
                "address_match": match.status.value,
                "address_id": str(best.address.id),
                "score": best.score,
            }
            return placed_at(best.area, best.ancestors, best.address.id, how)
        how = {
            "located_by": "address",
            "address_match": match.status.value,
            "candidates": len(match.candidates),
        }
    if fallback is None:
        raise ValidationFailed(
            Text(
                "地址未能匹配到标准地址，且无可暂存的辖区：请用经纬度（lat/lng）给出位置",
                "The address matches no standard address and there is no area to keep the "
                "case in: give the location as lat/lng",
            ),
            code="location_needs_point",
            errors=[
                FieldProblem(
                    field="location.lat",
                    reason=Text(
                        "地址未匹配且无工作人员辖区时必填",
                        "required when the address matches nothing and there is no staff area",
                    ),
                )
            ],
        )
    parts = fallback.split(".")
    address_chain: list[dict[str, Any]] = [
        {"path": ".".join(parts[: i + 1]), "level": None, "name": None} for i in range(len(parts))
    ]
    return Located(
        area_path=fallback,
        area_chain=address_chain,
        area_code=parts[-1],
        location_status="to_locate",
        how=how,
    )


async def place(
    *,
    request: Request,
    principal: Principal,
    case_id: uuid.UUID,
    body: LocateRequest,
    if_match: int | None,
) -> CaseRead:
    """The ``locate`` action across services: check it may be taken (short read), ask
    grid_service where the point or address is with no transaction open, then take the action
    in one transaction (which checks again, on the locked row)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    grid: GridClient = request.app.state.grid_client
    async with maker() as session:
        case = await repository.get(session, case_id)
        rows = await repository.assignments(session, case.id) if case is not None else []
        service.check_action(
            principal, case, Action.locate, rows, if_match=if_match, reason=body.reason
        )
    if body.address_id is not None:
        found = await grid.address(body.address_id)
        if found is None:
            raise ValidationFailed(
                Text("没有这个标准地址", "No such standard address"),
                code="unknown_address",
                errors=[
                    FieldProblem(
                        field="address_id",
                        reason=Text("不在标准地址库中", "not in the standard-address register"),
                    )
                ],
            )
        located = placed_at(
            found.area,
            found.ancestors,
            found.address.id,
            {"located_by": "address", "address_id": str(found.address.id)},
        )
    else:
        assert body.lat is not None  # LocateRequest: a point or an address id
        assert body.lng is not None
        located = await locate_point(grid, lat=body.lat, lng=body.lng, crs=body.crs)
    async with maker() as session, session.begin():
        case, rows = await actions.take_action(
            session,
            principal=principal,
            case_id=case_id,
            action=Action.locate,
            body=CaseActionRequest(reason=body.reason),
            if_match=if_match,
            settings=request.app.state.settings,
            located=located,
        )
        return presenter.case_read(principal, case, rows)
