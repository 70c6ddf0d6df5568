"""Attachment storage backends: local disk, and the S3 API against a small fake S3 server
(path-style PUT/GET/DELETE, as MinIO answers them) on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from case_service.attachments.storage import LocalStorage, S3Storage, build_storage
from case_service.config import Settings
from shared.testing import free_port


@pytest_asyncio.fixture
async def fake_s3() -> AsyncIterator[tuple[str, dict[str, tuple[bytes, str]]]]:
    objects: dict[str, tuple[bytes, str]] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        key = request.path.lstrip("/")
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AK/")
        if request.method == "PUT":
            objects[key] = (await request.read(), request.headers.get("Content-Type", ""))
            return web.Response(status=200, headers={"ETag": '"x"'})
        if request.method == "GET":
            if key not in objects:
                return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
            body, content_type = objects[key]
            return web.Response(body=body, content_type=content_type)
        if request.method == "DELETE":
            objects.pop(key, None)
            return web.Response(status=204)
        return web.Response(status=405)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}", objects
    await runner.cleanup()


async def test_s3_storage_round_trip(fake_s3: tuple[str, dict[str, tuple[bytes, str]]]) -> None:
    url, objects = fake_s3
    storage = build_storage(
        Settings(
            environment="test",
            storage_backend="s3",
            s3_endpoint_url=url,
            s3_bucket="gridgov-attachments",
            s3_region="cn-hangzhou",
            s3_access_key_id="AK",
            s3_secret_access_key="SK",
            s3_addressing_style="path",
        )
    )
    assert isinstance(storage, S3Storage)
    await storage.put("ab/photo-1", b"\xff\xd8\xffdata", content_type="image/jpeg")
    assert objects["gridgov-attachments/ab/photo-1"] == (b"\xff\xd8\xffdata", "image/jpeg")
    assert await storage.get("ab/photo-1") == b"\xff\xd8\xffdata"
    await storage.delete("ab/photo-1")
    assert objects == {}


async def test_local_storage_stays_in_its_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("ab/one", b"1", content_type="image/png")
    assert (tmp_path / "ab" / "one").read_bytes() == b"1"
    assert await storage.get("ab/one") == b"1"
    with pytest.raises(ValueError, match="escapes"):
        await storage.put("../outside", b"x", content_type="image/png")
    await storage.delete("ab/one")
    assert not (tmp_path / "ab" / "one").exists()


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="BUCKET"):
        build_storage(Settings(environment="test", storage_backend="s3"))
    with pytest.raises(ValueError, match="s3 storage needs"):
        Settings(
            environment="production",
            database_url="postgresql://db/case",
            jwks_url="https://grid.example.gov.cn/.well-known/jwks.json",
            storage_backend="s3",
        )
