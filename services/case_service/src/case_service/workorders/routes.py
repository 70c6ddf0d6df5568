"""12345-style work-order exchange (工单交换).

A platform pushes a work order with its own id and its own category code (mapped to ours
through ``category_mapping``) and, optionally, the deadline it imposes; it becomes a case
(idempotent on the platform's id). The platform follows it by polling
``GET /api/v1/work-orders/{order_id}`` or through its webhooks: ``acknowledged`` (签收) when our
centre accepts it, ``returned`` (退回) with the reason when it rejects it, ``replied`` (回单)
with the result when it is resolved. An imposed deadline stricter than ours becomes the
case's resolution deadline.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from case_service import intake
from case_service.cases import flows
from case_service.cases.models import Case, TimelineEntry
from case_service.cases.schemas import CaseCreate, Channel, LocationIn, ReporterIn
from case_service.categories import repository as categories
from case_service.categories.schemas import Priority
from case_service.workorders.models import CategoryMapping, WorkOrder
from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.db import SessionDep
from shared.i18n import Text
from shared.problem import FieldProblem, Forbidden, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])


class WorkOrderIn(BaseModel):
    """A pushed work order. Unknown fields are refused (422 naming each, nothing written); the
    platform's `priority` and `major` are a request (`requested_priority`/`requested_major`
    on the case) that our dispatcher decides on at accept."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "order_id": "HZ12345-20261123-000981",
                "category_code": "SZ-0301",
                "title": "井盖缺失",
                "description": "市民来电：文三路学院路口井盖缺失",
                "reporter": {"name": "张先生", "phone": "13900001111"},
                "location": {"lat": 30.2741, "lng": 120.1551, "crs": "wgs84"},
                "deadline_at": "2026-11-25T18:00:00+08:00",
                "priority": "urgent",
            }
        },
    )

    order_id: str = Field(min_length=1, max_length=128, description="the platform's own id")
    category_code: str = Field(min_length=1, max_length=64, description="the platform's code")
    title: str | None = Field(None, min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=4000)
    reporter: ReporterIn | None = None
    location: LocationIn
    deadline_at: datetime | None = Field(None, description="the deadline the platform imposes")
    attributes: dict[str, Any] = Field(default_factory=dict)
    priority: Priority | None = Field(
        None, description="the platform's urgency (急办): a request, decided at accept"
    )
    major: bool = Field(False, description="the platform asks for 重大事件: a request")


class WorkOrderRead(BaseModel):
    order_id: str
    case_id: uuid.UUID
    case_number: str
    state: str = Field(description="received, acknowledged (签收), returned (退回), replied (回单)")
    case_status: str
    acknowledged_at: datetime | None = None
    returned_at: datetime | None = None
    return_reason: str | None = None
    replied_at: datetime | None = None
    reply: str | None = None
    imposed_due_at: datetime | None = None
    due_at: datetime | None = None


class MappingWrite(BaseModel):
    category_code: str = Field(min_length=1, max_length=32, examples=["0802"])


class MappingRead(BaseModel):
    client_id: str
    external_code: str
    category_code: str


def _platform(principal: Principal) -> str:
    if not principal.has_role(Role.platform) or not principal.client_id:
        raise Forbidden(
            Text("工单由平台客户端推送", "Work orders are pushed by platform clients"),
            code="missing_role",
        )
    return principal.client_id


def _admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden(
            Text("只有管理员可以维护类别编码对照", "Only an admin maps category codes"),
            code="missing_role",
        )


# role checks as route dependencies: they run before the body is validated (403 before 422)
PlatformDep = Annotated[Principal, require(_platform)]
AdminDep = Annotated[Principal, require(_admin)]


async def _read(session: Any, order: WorkOrder) -> WorkOrderRead:
    case = await session.get(Case, order.case_id)
    assert case is not None
    entries = (
        (
            await session.execute(
                sa.select(TimelineEntry)
                .where(
                    col(TimelineEntry.case_id) == case.id,
                    col(TimelineEntry.action).in_(("accept", "reject", "resolve")),
                )
                .order_by(col(TimelineEntry.created_at))
            )
        )
        .scalars()
        .all()
    )
    last = {e.action: e for e in entries}
    state, out = "received", {}
    if "accept" in last:
        state, out["acknowledged_at"] = "acknowledged", last["accept"].created_at
    if case.status == "rejected" and "reject" in last:
        state = "returned"
        out["returned_at"], out["return_reason"] = last["reject"].created_at, last["reject"].reason
    if case.status in {"resolved", "closed"} and "resolve" in last:
        state, out["replied_at"], out["reply"] = "replied", last["resolve"].created_at, case.result
    return WorkOrderRead(
        order_id=order.order_id,
        case_id=case.id,
        case_number=case.case_number,
        state=state,
        case_status=case.status,
        imposed_due_at=order.imposed_due_at,
        due_at=case.due_at,
        **out,
    )


async def _existing(request: Request, client_id: str, order_id: str) -> WorkOrderRead | None:
    async with request.app.state.sessionmaker() as session:
        order = (
            await session.execute(
                sa.select(WorkOrder).where(
                    col(WorkOrder.client_id) == client_id, col(WorkOrder.order_id) == order_id
                )
            )
        ).scalar_one_or_none()
        return await _read(session, order) if order else None


@router.post(
    "",
    response_model=WorkOrderRead,
    status_code=201,
    summary="Push a work order (工单派发)",
    description="Maps the platform's category code to ours and files a case. The same "
    "`order_id` again answers 200 with the work order as it is — never a second case. "
    "The platform's `priority`/`major` are kept as a request on the case (`requested_priority`, "
    "`requested_major`): the case runs under the category's default until our dispatcher "
    "decides at accept. Unknown fields: 422 `validation_failed` naming each one.",
    responses={
        200: {"model": WorkOrderRead, "description": "already received"},
        **problem_responses(403, 422, 502, 503),
    },
)
async def push(principal: PlatformDep, body: WorkOrderIn, request: Request) -> Any:
    client_id = _platform(principal)
    if (found := await _existing(request, client_id, body.order_id)) is not None:
        return JSONResponse(found.model_dump(mode="json"), status_code=200)
    maker = request.app.state.sessionmaker
    async with maker() as session:
        mapped = (
            await session.execute(
                sa.select(col(CategoryMapping.category_code)).where(
                    col(CategoryMapping.client_id) == client_id,
                    col(CategoryMapping.external_code) == body.category_code,
                )
            )
        ).scalar_one_or_none()
    if mapped is None:
        raise ValidationFailed(
            Text(
                f"{client_id} 的类别编码 {body.category_code!r} 没有对照关系",
                f"No mapping for category code {body.category_code!r} of {client_id}",
            ),
            code="unmapped_category",
            errors=[
                FieldProblem(
                    field="category_code", reason=Text("不在对照表中", "not in the mapping table")
                )
            ],
        )
    data = CaseCreate(
        category_code=mapped,
        channel=Channel.platform,
        title=body.title,
        description=body.description,
        location=body.location,
        reporter=body.reporter,
        attributes=body.attributes,
        priority=body.priority,
        major=body.major,
        source=client_id,
        external_id=body.order_id,
    )
    # an address alone is matched against the standard addresses (待定位 when it matches none)
    located = await flows.locate(
        request.app.state.grid_client,
        principal,
        data,
        default_area=request.app.state.settings.intake_default_area_path,
    )
    try:
        async with maker() as session, session.begin():
            case, _ = await intake.create_case(
                session, principal=principal, data=data, located=located
            )
            order = WorkOrder(
                case_id=case.id,
                client_id=client_id,
                order_id=body.order_id,
                external_category_code=body.category_code,
                imposed_due_at=body.deadline_at,
            )
            session.add(order)
            await session.flush()
            read = await _read(session, order)
    except IntegrityError:
        if (found := await _existing(request, client_id, body.order_id)) is not None:
            return JSONResponse(found.model_dump(mode="json"), status_code=200)
        raise
    return read


@router.get(
    "/{order_id}",
    response_model=WorkOrderRead,
    summary="Follow a pushed work order",
    responses=problem_responses(403, 404),
)
async def get_order(
    principal: PlatformDep, order_id: Annotated[str, Path(max_length=128)], request: Request
) -> WorkOrderRead:
    found = await _existing(request, _platform(principal), order_id)
    if found is None:
        raise NotFound(Text("没有这个工单", "No such work order"), code="work_order_not_found")
    return found


@router.put(
    "/category-mappings/{client_id}/{external_code}",
    response_model=MappingRead,
    summary="Map a platform's category code to ours (admin)",
    responses=problem_responses(403, 422),
)
async def put_mapping(
    principal: AdminDep,
    client_id: Annotated[str, Path(max_length=64)],
    external_code: Annotated[str, Path(max_length=64)],
    body: MappingWrite,
    session: SessionDep,
) -> MappingRead:
    if await categories.get_current(session, body.category_code) is None:
        raise ValidationFailed(
            Text("未知的类别", "Unknown category"),
            code="unknown_category",
            errors=[FieldProblem(field="category_code", reason=Text("未知", "unknown"))],
        )
    row = (
        await session.execute(
            sa.select(CategoryMapping).where(
                col(CategoryMapping.client_id) == client_id,
                col(CategoryMapping.external_code) == external_code,
            )
        )
    ).scalar_one_or_none()
    row = row or CategoryMapping(
        client_id=client_id, external_code=external_code, category_code=body.category_code
    )
    row.category_code = body.category_code
    session.add(row)
    await session.flush()
    return MappingRead(
        client_id=client_id, external_code=external_code, category_code=row.category_code
    )


@router.get(
    "/category-mappings/{client_id}",
    response_model=list[MappingRead],
    summary="A platform's category mapping table",
)
async def list_mappings(
    client_id: Annotated[str, Path(max_length=64)], session: SessionDep, principal: CurrentPrincipal
) -> list[MappingRead]:
    if not (principal.has_role(Role.admin) or principal.client_id == client_id):
        raise Forbidden(
            Text(
                "只有管理员或平台本身可以查看其对照表",
                "Only an admin or the platform itself reads its mapping",
            ),
            code="missing_role",
        )
    rows = (
        (
            await session.execute(
                sa.select(CategoryMapping)
                .where(col(CategoryMapping.client_id) == client_id)
                .order_by(col(CategoryMapping.external_code))
            )
        )
        .scalars()
        .all()
    )
    return [
        MappingRead(
            client_id=r.client_id, external_code=r.external_code, category_code=r.category_code
        )
        for r in rows
    ]
