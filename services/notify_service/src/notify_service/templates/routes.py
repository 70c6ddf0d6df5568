"""Templates API (thin HTTP over templates.service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from notify_service.access import Staff, TemplateAdmin
from notify_service.templates import repository, service
from notify_service.templates.models import MessageTemplate
from notify_service.templates.schemas import TemplateCreate, TemplateRead, TemplateUpdate
from shared.contracts.recipients import Channel
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import NotFound, problem_responses

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


@router.post(
    "",
    status_code=201,
    response_model=TemplateRead,
    summary="Create a message template",
    description="One template per (key, channel, locale). Every `{placeholder}` in the title, "
    "body and provider parameters must be declared in `variables`; SMS templates carry the "
    "Alibaba and/or Tencent template id and parameter shape, WeChat ones the WeChat template id "
    "and `data` keys. Needs role `admin` or scope `templates:write`.",
    responses=problem_responses(401, 403, 409, 422),
)
async def create_template(
    body: TemplateCreate, session: SessionDep, _: TemplateAdmin
) -> TemplateRead:
    template = await service.create(session, data=body)
    return TemplateRead.model_validate(template)


@router.put(
    "/{template_id}",
    response_model=TemplateRead,
    summary="Replace a template's text and provider parameters",
    description="Key, channel and locale stay; the rest is replaced. Messages already stored "
    "render with the new text when they are delivered.",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, session: SessionDep, _: TemplateAdmin
) -> TemplateRead:
    template = await service.update(session, template_id=template_id, data=body)
    return TemplateRead.model_validate(template)


@router.get(
    "",
    response_model=Page[TemplateRead],
    summary="List templates",
    description="Keyset pages ordered by creation time, newest first; filter by key and channel.",
    responses=problem_responses(401, 403),
)
async def list_templates(
    session: SessionDep,
    page: PageDep,
    _: Staff,
    key: Annotated[
        str | None, Query(description="template key", examples=["case_accepted"])
    ] = None,
    channel: Annotated[Channel | None, Query(description="channel")] = None,
) -> Page[TemplateRead]:
    stmt = repository.list_stmt(key=key, channel=channel)
    table = MessageTemplate.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        stmt,
        order_by=[table.c.created_at, table.c.id],
        params=page,
        to_item=TemplateRead.model_validate,
    )


@router.get(
    "/{template_id}",
    response_model=TemplateRead,
    summary="Read one template",
    description="The template with its variables and provider parameters.",
    responses=problem_responses(401, 403, 404),
)
async def get_template(template_id: uuid.UUID, session: SessionDep, _: Staff) -> TemplateRead:
    template = await repository.get(session, template_id)
    if template is None:
        raise NotFound(Text("没有这个模板", "No such template"), code="template_not_found")
    return TemplateRead.model_validate(template)
