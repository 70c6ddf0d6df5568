"""Uploads checked on content (``filetype`` sniffs the magic bytes; the name is ignored), and
attachments claimed by the case or action that uses them."""

from __future__ import annotations

import hashlib
import uuid

import filetype
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.attachments import repository
from case_service.attachments.models import Attachment
from case_service.attachments.schemas import AttachmentKind, Purpose
from case_service.attachments.storage import Storage
from case_service.config import Settings
from shared.i18n import Text
from shared.problem import FieldProblem, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

SNIFF_BYTES = 8192
CHUNK = 1024 * 1024

ALLOWED: dict[str, AttachmentKind] = {
    "image/jpeg": AttachmentKind.photo,
    "image/png": AttachmentKind.photo,
    "image/webp": AttachmentKind.photo,
    "image/heic": AttachmentKind.photo,
    "video/mp4": AttachmentKind.video,
    "video/quicktime": AttachmentKind.video,
    "video/3gpp": AttachmentKind.video,
    "application/pdf": AttachmentKind.document,
    "application/msword": AttachmentKind.document,
    "application/vnd.ms-excel": AttachmentKind.document,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        AttachmentKind.document
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": AttachmentKind.document,
}


def limit_for(kind: AttachmentKind, settings: Settings) -> int:
    return {
        AttachmentKind.photo: settings.photo_max_bytes,
        AttachmentKind.video: settings.video_max_bytes,
        AttachmentKind.document: settings.document_max_bytes,
    }[kind]


async def store_upload(
    session: AsyncSession,
    *,
    upload: UploadFile,
    purpose: Purpose,
    uploader: str,
    storage: Storage,
    settings: Settings,
) -> Attachment:
    head = await upload.read(SNIFF_BYTES)
    if not head:
        raise ValidationFailed(
            Text("文件为空", "The file is empty"),
            code="empty_attachment",
            errors=[FieldProblem(field="file", reason=Text("为空", "empty"))],
        )
    guessed = filetype.guess(head)
    mime = guessed.mime if guessed is not None else None
    if mime not in ALLOWED:
        raise UnsupportedMediaType(
            Text(
                "附件须为照片（JPEG、PNG、WebP、HEIC）、视频（MP4、MOV、3GP）或文档"
                "（PDF、Word、Excel）；实际内容为 " + (mime or "无法识别"),
                "Attachments must be photos (JPEG, PNG, WebP, HEIC), videos (MP4, MOV, 3GP) or "
                "documents (PDF, Word, Excel); the content was " + (mime or "not recognised"),
            ),
            code="unsupported_attachment_type",
            errors=[
                FieldProblem(
                    field="file",
                    reason=Text(f"内容类型 {mime or '未知'}", f"content type {mime or 'unknown'}"),
                )
            ],
        )
    kind = ALLOWED[mime]
    limit = limit_for(kind, settings)
    digest = hashlib.sha256(head)
    parts = [head]
    size = len(head)
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                Text(
                    f"{kind.value} 最大 {limit} 字节",
                    f"A {kind.value} may be at most {limit} bytes",
                ),
                code="attachment_too_large",
                errors=[
                    FieldProblem(
                        field="file",
                        reason=Text(f"大于 {limit} 字节", f"larger than {limit} bytes"),
                    )
                ],
            )
        digest.update(chunk)
        parts.append(chunk)
    if size > limit:
        raise PayloadTooLarge(
            Text(f"{kind.value} 最大 {limit} 字节", f"A {kind.value} may be at most {limit} bytes"),
            code="attachment_too_large",
            errors=[
                FieldProblem(
                    field="file", reason=Text(f"大于 {limit} 字节", f"larger than {limit} bytes")
                )
            ],
        )
    attachment_id = uuid.uuid4()
    key = f"{attachment_id.hex[:2]}/{attachment_id}"
    await storage.put(key, b"".join(parts), content_type=mime)
    attachment = Attachment(
        id=attachment_id,
        kind=kind.value,
        content_type=mime,
        size_bytes=size,
        sha256=digest.hexdigest(),
        storage_key=key,
        filename=(upload.filename or None) and str(upload.filename)[:255],
        purpose=purpose.value,
        uploaded_by=uploader,
    )
    session.add(attachment)
    await session.flush()
    return attachment


async def claim(
    session: AsyncSession,
    ids: list[uuid.UUID],
    *,
    case_id: uuid.UUID,
    actor_id: str,
    field: str = "attachment_ids",
) -> list[Attachment]:
    """Link the caller's own uploads to a case; anything else is a 422 naming the entry."""
    if not ids:
        return []
    if len(set(ids)) != len(ids):
        raise ValidationFailed(
            Text("同一个附件被列了两次", "An attachment is listed twice"),
            code="duplicate_attachment",
            errors=[FieldProblem(field=field, reason=Text("ID 重复", "duplicate ids"))],
        )
    found = {a.id: a for a in await repository.get_many(session, ids, lock=True)}
    problems = []
    for i, attachment_id in enumerate(ids):
        a = found.get(attachment_id)
        if a is None or a.uploaded_by != actor_id:
            problems.append(
                FieldProblem(
                    field=f"{field}.{i}",
                    reason=Text("没有您上传的这个附件", "no such upload of yours"),
                )
            )
        elif a.case_id is not None and a.case_id != case_id:
            problems.append(
                FieldProblem(
                    field=f"{field}.{i}", reason=Text("已被其他案件使用", "used by another case")
                )
            )
    if problems:
        raise ValidationFailed(
            Text("部分附件不能使用", "Some attachments cannot be used"),
            code="invalid_attachment",
            errors=problems,
        )
    for a in found.values():
        a.case_id = case_id
        session.add(a)
    await session.flush()
    return [found[i] for i in ids]
