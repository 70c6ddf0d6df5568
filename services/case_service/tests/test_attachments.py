"""Attachments: type and size checked on content, storage, linking to cases, access."""

from __future__ import annotations

import io
import zipfile

import pytest
from conftest import ADMIN, DISPATCHER_C1, DISPATCHER_C2, RESIDENT, RESIDENT2, Api, Person

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 4000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 1000
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n<<>>\nendobj\n" * 50
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 3000


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def upload(
    api: Api,
    who: Person,
    name: str,
    data: bytes,
    *,
    declared: str = "image/jpeg",
    purpose: str = "evidence",
) -> tuple[int, dict[str, object]]:
    r = await api.client.post(
        "/api/v1/attachments",
        files={"file": (name, data, declared)},
        data={"purpose": purpose},
        headers=api.headers(who),
    )
    return r.status_code, r.json()


@pytest.mark.parametrize(
    ("name", "data", "kind", "mime"),
    [
        ("a.jpg", JPEG, "photo", "image/jpeg"),
        ("whatever.bin", PNG, "photo", "image/png"),  # the name does not matter
        ("report.pdf", PDF, "document", "application/pdf"),
        ("clip.mp4", MP4, "video", "video/mp4"),
        (
            "notes.docx",
            docx(),
            "document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
async def test_accepted_types_are_detected_from_content(
    api: Api, name: str, data: bytes, kind: str, mime: str
) -> None:
    status, body = await upload(api, RESIDENT, name, data, declared="application/octet-stream")
    assert status == 201, body
    assert body["kind"] == kind
    assert body["content_type"] == mime
    assert body["size_bytes"] == len(data)
    assert body["filename"] == name
    r = await api.client.get(
        f"/api/v1/attachments/{body['id']}/content", headers=api.headers(RESIDENT)
    )
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"].startswith(mime)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.jpg", b"just some text pretending to be a photo" * 10),  # wrong content, good name
        ("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 500),  # an executable
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 100),
    ],
)
async def test_wrong_types_are_415(api: Api, name: str, data: bytes) -> None:
    status, body = await upload(api, RESIDENT, name, data)
    assert status == 415
    assert body["code"] == "unsupported_attachment_type"
    assert body["errors"][0]["field"] == "file"


async def test_oversize_photo_is_413(api: Api) -> None:
    big = JPEG + b"\x00" * (10 * 1024 * 1024)
    status, body = await upload(api, RESIDENT, "big.jpg", big)
    assert status == 413
    assert body["code"] == "attachment_too_large"
    # the same size is fine for a video
    status, body = await upload(api, RESIDENT, "big.mp4", MP4 + b"\x00" * (10 * 1024 * 1024))
    assert status == 201, body


async def test_body_above_the_upload_limit_is_413(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/attachments",
        content=b"x",
        headers={
            **api.headers(RESIDENT),
            "Content-Length": str(200 * 1024 * 1024),
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert r.status_code == 413


async def test_bad_upload_requests(api: Api) -> None:
    status, body = await upload(api, RESIDENT, "empty.jpg", b"")
    assert status == 422
    status, body = await upload(api, RESIDENT, "a.jpg", JPEG, purpose="decoration")
    assert status == 422
    assert body["errors"][0]["field"] == "purpose"
    r = await api.client.post("/api/v1/attachments", headers=api.headers(RESIDENT))
    assert r.status_code == 422
    r = await api.client.post("/api/v1/attachments", files={"file": ("a.jpg", JPEG)})
    assert r.status_code == 401


async def test_attachments_follow_their_case(api: Api) -> None:
    _, photo = await upload(api, RESIDENT, "a.jpg", JPEG)
    _, theirs = await upload(api, RESIDENT2, "b.jpg", JPEG)
    r = await api.report(RESIDENT, attachment_ids=[theirs["id"]], expect=422)
    assert r["code"] == "invalid_attachment"
    assert r["errors"][0]["field"] == "attachment_ids.0"
    case = await api.report(RESIDENT, attachment_ids=[photo["id"]])
    meta = (await api.get(DISPATCHER_C1, f"/api/v1/attachments/{photo['id']}")).json()
    assert meta["case_id"] == case["id"]
    r = await api.client.get(
        f"/api/v1/attachments/{photo['id']}/content", headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 200
    for who in (DISPATCHER_C2, RESIDENT2):
        r = await api.get(who, f"/api/v1/attachments/{photo['id']}")
        assert r.status_code == 404
    # an attachment belongs to one case
    r = await api.report(RESIDENT, attachment_ids=[photo["id"]], expect=422)
    assert r["errors"][0]["reason"] == "已被其他案件使用"
    r = await api.get(ADMIN, "/api/v1/attachments/6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11")
    assert r.status_code == 404
