"""``/api/v1/resident-transfers``: a resident moving between grids (迁出/迁入). The staff of one
side asks (the grid moving out, or the grid moving in — a resident already registered
elsewhere answers 409 ``resident_exists`` with where to ask), the staff of the other side
completes or refuses it; both see it in their list of open transfers; every transfer stays in
the resident's history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col

from grid_service.areas.models import Area
from grid_service.basicinfo import service as basicinfo
from grid_service.basicinfo.models import Household, Resident, SpecialGroupTag
from grid_service.basicinfo.repository import under_any
from grid_service.basicinfo.service import StaffDep, invalid, scope_paths
from grid_service.messages import service as messages
from grid_service.privacy.deps import example_response
from grid_service.selfservice.models import ResidentLink
from grid_service.transfers.models import ResidentTransfer, TransferStatus
from shared.auth import Principal
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.pii import mask_name
from shared.problem import Conflict, Forbidden, NotFound, problem_responses

router = APIRouter(prefix="/api/v1/resident-transfers", tags=["basic information"])


class TransferCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "to_area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f002",
                    "reason": "搬迁至文三路 92 号",
                }
            ]
        },
    )

    resident_id: uuid.UUID
    to_area_id: uuid.UUID = Field(description="the grid the resident moves to")
    reason: str = Field(min_length=2, max_length=500)


class TransferComplete(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    household_id: uuid.UUID | None = Field(None, description="a household of the new grid")
    current_address_id: uuid.UUID | None = Field(
        None, description="a standard address of the new grid"
    )


class TransferRefuse(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "查无此人"}]}
    )

    reason: str = Field(min_length=2, max_length=500)


class TransferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resident_id: uuid.UUID
    from_area_path: str
    to_area_id: uuid.UUID
    to_area_path: str
    to_household_id: uuid.UUID | None
    to_address_id: uuid.UUID | None
    reason: str
    started_on: str = Field(description="`from`: asked by the grid moving out; `to`: moving in")
    status: TransferStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None


EXAMPLE = {
    "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "from_area_path": "330100.330106.330106001.330106001001.330106001001001",
    "to_area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f002",
    "to_area_path": "330100.330106.330106001.330106001001.330106001001002",
    "to_household_id": None,
    "to_address_id": None,
    "reason": "搬迁至文三路 92 号",
    "started_on": "from",
    "status": "pending",
    "requested_by": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "requested_at": "2026-12-06T02:00:00Z",
    "decided_by": None,
    "decided_at": None,
}


def _read(row: ResidentTransfer) -> TransferRead:
    return TransferRead.model_validate(row)


async def _open(session: SessionDep, transfer_id: uuid.UUID) -> ResidentTransfer:
    row = await session.get(ResidentTransfer, transfer_id, with_for_update=True)
    if row is None:
        raise NotFound(Text("没有这个迁移申请", "No such transfer"), code="transfer_not_found")
    return row


async def _tell(
    session: SessionDep,
    row: ResidentTransfer,
    resident_name: str,
    *,
    decided: str | None = None,
) -> None:
    """Tell the grid workers concerned, through the message outbox (same transaction): when
    asked, those of the side that decides; when decided (``decided`` = the outcome), both."""
    names = dict(
        (
            await session.execute(
                sa.select(col(Area.path), col(Area.name)).where(
                    col(Area.path).in_([row.from_area_path, row.to_area_path])
                )
            )
        ).all()
    )
    variables = {
        "resident": mask_name(resident_name) or "",
        "from_grid": names.get(row.from_area_path, row.from_area_path),
        "to_grid": names.get(row.to_area_path, row.to_area_path),
    }
    if decided is None:
        deciding = row.to_area_path if row.started_on == "from" else row.from_area_path
        people = await messages.grid_workers(session, [deciding])
        await messages.enqueue(session, "resident_transfer_asked", variables, people)
    else:
        people = await messages.grid_workers(session, [row.from_area_path, row.to_area_path])
        await messages.enqueue(
            session, "resident_transfer_decided", {**variables, "outcome": decided}, people
        )


def _other_side(principal: Principal, row: ResidentTransfer) -> None:
    """The side that did not ask decides (an account covering both may do both)."""
    path = row.to_area_path if row.started_on == "from" else row.from_area_path
    if not principal.covers_area(path):
        raise Forbidden(
            Text("应由另一方网格的工作人员办理", "The staff of the other grid decide"),
            code="not_your_side",
        )


@router.post(
    "",
    status_code=201,
    response_model=TransferRead,
    summary="Ask to move a resident to another grid (迁出 or 迁入)",
    description="Staff covering the resident's grid (moving out) or the new grid (moving in). "
    "The staff of the other grid completes or refuses it (its grid workers are told: "
    "message `resident_transfer_asked`). One open transfer per resident.",
    responses=example_response(EXAMPLE, 201) | problem_responses(401, 403, 404, 409, 422),
)
async def ask(session: SessionDep, principal: StaffDep, body: TransferCreate) -> TransferRead:
    resident = await session.get(Resident, body.resident_id)
    if resident is None:
        raise NotFound(Text("没有这位居民", "No such resident"), code="resident_not_found")
    target = await basicinfo.area_or_404(session, body.to_area_id)
    if target.level not in ("grid", "micro_grid"):
        raise invalid("to_area_id", Text("应迁入一个网格", "must be a grid"))
    if target.path == resident.area_path:
        raise invalid("to_area_id", Text("居民已在该网格", "the resident lives in this grid"))
    if principal.covers_area(resident.area_path):
        started_on = "from"
    elif principal.covers_area(target.path):
        started_on = "to"
    else:
        raise Forbidden(
            Text("迁出或迁入网格须在您的区域内", "Either grid must be in your areas"),
            code="outside_scope",
        )
    open_one = await session.execute(
        sa.select(col(ResidentTransfer.id)).where(
            col(ResidentTransfer.resident_id) == resident.id,
            col(ResidentTransfer.status) == TransferStatus.pending.value,
        )
    )
    if open_one.first() is not None:
        raise Conflict(
            Text("该居民已有未办结的迁移申请", "The resident has an open transfer"),
            code="transfer_open",
        )
    row = ResidentTransfer(
        resident_id=resident.id,
        from_area_path=resident.area_path,
        to_area_id=target.id,
        to_area_path=target.path,
        reason=body.reason,
        started_on=started_on,
        requested_by=principal.subject,
    )
    session.add(row)
    await session.flush()
    await _tell(session, row, resident.name)
    return _read(row)


@router.get(
    "",
    response_model=Page[TransferRead],
    summary="Open transfers moving residents out of or into my areas",
    description="The to-do list of both grids' staff: pending transfers whose old or new grid "
    "lies in the caller's areas, oldest first.",
    responses=example_response({"items": [EXAMPLE], "next_cursor": None}, 200)
    | problem_responses(401, 403, 422),
)
async def open_transfers(
    session: SessionDep,
    principal: StaffDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
) -> Page[TransferRead]:
    paths = scope_paths(principal, area_path)
    t = ResidentTransfer.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(ResidentTransfer).where(
            col(ResidentTransfer.status) == TransferStatus.pending.value,
            sa.or_(
                under_any(col(ResidentTransfer.from_area_path), paths),
                under_any(col(ResidentTransfer.to_area_path), paths),
            ),
        ),
        order_by=[t.c.requested_at, t.c.id],
        params=page,
        descending=False,
        to_item=_read,
    )


@router.post(
    "/{transfer_id}/complete",
    response_model=TransferRead,
    summary="Complete a transfer: the resident now lives in the new grid",
    description="The staff of the side that did not ask. The resident's grid changes (with "
    "its special-group tags and account link); the household and standard address are those "
    "given in the new grid, or none; the old household loses the resident (and its head, if "
    "the resident was it). The transfer stays in the resident's history. The grid workers of "
    "both grids are told (message `resident_transfer_decided`).",
    responses=example_response({**EXAMPLE, "status": "completed"}, 200)
    | problem_responses(401, 403, 404, 409, 422),
)
async def complete(
    session: SessionDep, principal: StaffDep, transfer_id: uuid.UUID, body: TransferComplete
) -> TransferRead:
    row = await _open(session, transfer_id)
    _other_side(principal, row)
    if row.status != TransferStatus.pending.value:
        raise Conflict(Text("该申请已办结", "The transfer was decided"), code="transfer_decided")
    target = await basicinfo.area_or_404(session, row.to_area_id)
    household = await basicinfo.household_in_area(
        session, body.household_id, target, field="household_id"
    )
    address = await basicinfo.address_in_area(
        session, body.current_address_id, target, field="current_address_id"
    )
    resident = await session.get(Resident, row.resident_id, with_for_update=True)
    if resident is None:
        raise NotFound(Text("没有这位居民", "No such resident"), code="resident_not_found")
    if resident.household_id is not None:
        old = await session.get(Household, resident.household_id, with_for_update=True)
        if old is not None and old.head_resident_id == resident.id:
            old.head_resident_id = None
            session.add(old)
    resident.area_id = target.id
    resident.area_path = target.path
    resident.household_id = household.id if household else None
    resident.relationship_to_head = None
    resident.current_address_id = address.id if address else None
    resident.current_address_text = None
    resident.updated_at = utcnow()
    session.add(resident)
    for table in (SpecialGroupTag.__table__, ResidentLink.__table__):  # type: ignore[attr-defined]
        await session.execute(
            sa.update(table).where(table.c.resident_id == resident.id).values(area_path=target.path)
        )
    row.status = TransferStatus.completed.value
    row.to_household_id = household.id if household else None
    row.to_address_id = address.id if address else None
    row.decided_by = principal.subject
    row.decided_at = utcnow()
    session.add(row)
    await session.flush()
    await _tell(session, row, resident.name, decided="已办结，居民已迁入")
    return _read(row)


@router.post(
    "/{transfer_id}/refuse",
    response_model=TransferRead,
    summary="Refuse a transfer",
    description="The staff of the side that did not ask; the resident stays where they are. "
    "The grid workers of both grids are told (message `resident_transfer_decided`).",
    responses=example_response({**EXAMPLE, "status": "refused"}, 200)
    | problem_responses(401, 403, 404, 409, 422),
)
async def refuse(
    session: SessionDep, principal: StaffDep, transfer_id: uuid.UUID, body: TransferRefuse
) -> TransferRead:
    row = await _open(session, transfer_id)
    _other_side(principal, row)
    if row.status != TransferStatus.pending.value:
        raise Conflict(Text("该申请已办结", "The transfer was decided"), code="transfer_decided")
    row.status = TransferStatus.refused.value
    row.reason = f"{row.reason}（不予迁移：{body.reason}）"[:500]
    row.decided_by = principal.subject
    row.decided_at = utcnow()
    session.add(row)
    await session.flush()
    resident = await session.get(Resident, row.resident_id)
    await _tell(
        session, row, resident.name if resident else "", decided=f"不予迁移（{body.reason}）"
    )
    return _read(row)


@router.get(
    "/of-resident/{resident_id}",
    response_model=list[TransferRead],
    summary="A resident's moves between grids (history)",
    description="Staff covering the resident's present grid; oldest first.",
    responses=example_response([{**EXAMPLE, "status": "completed"}], 200)
    | problem_responses(401, 403, 404),
)
async def history(
    session: SessionDep, principal: StaffDep, resident_id: uuid.UUID
) -> list[TransferRead]:
    await basicinfo.in_scope(session, principal, Resident, resident_id, what="resident")
    rows = await session.execute(
        sa.select(ResidentTransfer)
        .where(col(ResidentTransfer.resident_id) == resident_id)
        .order_by(col(ResidentTransfer.requested_at), col(ResidentTransfer.id))
    )
    return [_read(r) for r in rows.scalars()]
