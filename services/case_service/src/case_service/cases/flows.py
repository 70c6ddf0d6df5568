"""Intake across services: locate the case through grid_service, *then* open the transaction.

``POST /cases`` cannot use ``SessionDep``: FastAPI resolves it before the handler runs, which
would hold a transaction (and a pooled connection) open during the call to grid_service. So the
route takes no session; :func:`intake` calls grid_service first with no session open, and only
then opens its own short transaction (``sessionmaker() … session.begin()``) for every write:
idempotency record, case, timeline, outbox — committed together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.cases import access, presenter, repository, service, support
from case_service.cases.schemas import CaseCreate, CaseIntakeResult, CaseRead, CaseSummary
from case_service.cases.service import Located
from case_service.clients.grid import GridClient
from shared.auth import Principal
from shared.i18n import Text
from shared.idempotency import Idempotency, request_hash
from shared.problem import FieldProblem, ValidationFailed


@dataclass
class IntakeOutcome:
    status_code: int
    body: object
    replayed: bool = False


async def locate(grid: GridClient, principal: Principal, data: CaseCreate) -> Located:
    loc = data.location
    if loc.lat is not None and loc.lng is not None:
        result = await grid.locate(lat=loc.lat, lng=loc.lng, crs=loc.crs)
        if result is None:
            raise ValidationFailed(
                Text(
                    "该位置不在本辖区任何网格内",
                    "The location lies outside every grid of this jurisdiction",
                ),
                code="outside_jurisdiction",
                errors=[
                    FieldProblem(
                        field="location", reason=Text("不在本辖区内", "outside the jurisdiction")
                    )
                ],
            )
        chain = [
            {"path": a.path, "level": a.level.value, "name": a.name, "id": str(a.id)}
            for a in [*result.ancestors, result.area]
        ]
        return Located(
            area_path=result.area.path,
            area_chain=chain,
            area_id=result.area.id,
            area_code=result.area.code,
            area_name=result.area.name,
            lat=result.lat,
            lng=result.lng,
        )
    # An address alone: staff file it in their own area (the hotline or centre's jurisdiction).
    if not principal.area_paths:
        raise ValidationFailed(
            Text(
                "请用经纬度（lat/lng）给出位置：仅凭地址无法落到网格",
                "Give the location as lat/lng: an address alone cannot be placed in a grid",
            ),
            code="location_needs_point",
            errors=[
                FieldProblem(
                    field="location.lat",
                    reason=Text("无工作人员辖区时必填", "required without a staff area"),
                )
            ],
        )
    path = principal.area_paths[0]
    parts = path.split(".")
    address_chain: list[dict[str, str | None]] = [
        {"path": ".".join(parts[: i + 1]), "level": None, "name": None} for i in range(len(parts))
    ]
    return Located(area_path=path, area_chain=address_chain, area_code=parts[-1])


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


async def intake(
    *,
    request: Request,
    principal: Principal,
    data: CaseCreate,
    idempotency_key: str | None,
) -> IntakeOutcome:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    grid: GridClient = request.app.state.grid_client
    # 1. The same (source, external_id) again: the case we already have (200).
    if (found := await _existing(maker, principal, data)) is not None:
        return IntakeOutcome(200, found)
    # 2. Locate with no transaction open.
    located = await locate(grid, principal, data)
    # 3. One short transaction for every write.
    digest = await request_hash(request)
    try:
        async with maker() as session, session.begin():
            idem = Idempotency(
                session=session, request=request, key=idempotency_key, request_hash=digest
            )
            if (replay := await idem.replay()) is not None:
                return IntakeOutcome(replay.status_code, replay, replayed=True)
            case, duplicates = await service.create_case(
                session, principal=principal, data=data, located=located
            )
            # A new case has an assignment only when resolved on the spot (自行处置).
            rows = await repository.assignments(session, case.id) if case.self_handled else []
            read = presenter.case_read(principal, case, rows)
            # Staff see the merge candidates in their scope; residents and platforms only
            # their own among them, and a resident learns of other people's reports by
            # count alone (similar_nearby), never which cases they are.
            shown = [d for d in duplicates if access.can_see(principal, d)]
            similar = None
            if duplicates and support.resident_only(principal):
                similar = await support.similar_nearby(session, principal, case)
            # dict(read): the validated sub-models pass through (no dump and re-validation)
            body = CaseIntakeResult.model_validate(
                {
                    **dict(read),
                    "possible_duplicates": [CaseSummary.model_validate(d) for d in shown],
                    "similar_nearby": similar,
                }
            )
            response = await idem.respond(201, body)
            return IntakeOutcome(201, response)
    except IntegrityError:
        # Two pushes of one external case raced; the other one won.
        if (found := await _existing(maker, principal, data)) is not None:
            return IntakeOutcome(200, found)
        raise
