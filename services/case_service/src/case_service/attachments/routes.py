"""HTTP of attachments: upload first, then reference the ids from intake or an action."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.attachments import repository, service
from case_service.attachments.schemas import AttachmentRead, Purpose
from case_service.cases import access
from case_service.cases import repository as cases
from shared.auth import CurrentPrincipal, Principal
from shared.db import SessionDep
from shared.i18n import Text
from shared.problem import NotFound, problem_responses

router = APIRouter(prefix="/api/v1/attachments", tags=["attachments"])


@router.post(
    "",
    status_code=201,
    response_model=AttachmentRead,
    summary="Upload a photo, video or document",
    description="multipart/form-data with `file` and `purpose` (evidence, before, after). "
    "The type is detected from the content, not from the file name: photos JPEG/PNG/WebP/HEIC "
    "(≤ 10 MB), videos MP4/MOV/3GP (≤ 100 MB), documents PDF/Word/Excel (≤ 20 MB), by default. "
    "Another type is a 415, a larger file a 413. Use the returned id in `attachment_ids`.",
    responses=problem_responses(401, 413, 415, 422),
)
async def upload(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="the file")],
    purpose: Annotated[Purpose, Form(description="evidence, before or after")] = Purpose.evidence,
) -> AttachmentRead:
    row = await service.store_upload(
        session,
        upload=file,
        purpose=purpose,
        uploader=principal.subject,
        storage=request.app.state.storage,
        settings=request.app.state.settings,
    )
    return AttachmentRead.model_validate(row)


async def _visible(session: AsyncSession, principal: Principal, attachment_id: uuid.UUID) -> object:
    row = await repository.get(session, attachment_id)
    if row is None:
        raise NotFound(Text("没有这个附件", "No such attachment"), code="attachment_not_found")
    if row.uploaded_by == principal.subject:
        return row
    if row.case_id is not None:
        case = await cases.get(session, row.case_id)
        if case is not None and access.can_see(principal, case):
            return row
    raise NotFound(Text("没有这个附件", "No such attachment"), code="attachment_not_found")


@router.get(
    "/{attachment_id}",
    response_model=AttachmentRead,
    summary="Read an attachment's metadata",
    description="Visible to the uploader and to whoever may see the case it belongs to.",
    responses=problem_responses(401, 404),
)
async def get_attachment(
    attachment_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> AttachmentRead:
    row = await _visible(session, principal, attachment_id)
    return AttachmentRead.model_validate(row)


@router.get(
    "/{attachment_id}/content",
    response_class=Response,
    summary="Download an attachment",
    description="The bytes, with the detected content type.",
    responses={200: {"content": {"application/octet-stream": {}}}, **problem_responses(401, 404)},
)
async def get_content(
    request: Request, attachment_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    row = AttachmentRead.model_validate(await _visible(session, principal, attachment_id))
    stored = await repository.get(session, row.id)
    assert stored is not None
    data = await request.app.state.storage.get(stored.storage_key)
    return Response(
        data,
        media_type=row.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )
