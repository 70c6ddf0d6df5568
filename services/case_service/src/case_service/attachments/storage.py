"""Where attachment bytes live: local disk by default, or an S3-compatible object store
(MinIO, Alibaba OSS, Tencent COS) through aiobotocore, chosen by ``CASE_STORAGE_BACKEND``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio

if TYPE_CHECKING:
    from case_service.config import Settings


class Storage(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> anyio.Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage folder")
        return anyio.Path(path)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        await path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        await tmp.write_bytes(data)
        await tmp.rename(path)

    async def get(self, key: str) -> bytes:
        return await self._path(key).read_bytes()

    async def delete(self, key: str) -> None:
        await self._path(key).unlink(missing_ok=True)


class S3Storage:
    """S3 API through aiobotocore; one client session per call (cheap, no shared state)."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        addressing_style: str = "auto",
    ) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self.bucket = bucket
        self._session = get_session()
        self._kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            # MinIO wants path-style URLs; Alibaba OSS and Tencent COS virtual-hosted ones
            "config": AioConfig(s3={"addressing_style": addressing_style}),
        }

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        async with self._session.create_client("s3", **self._kwargs) as client:
            await client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )

    async def get(self, key: str) -> bytes:
        async with self._session.create_client("s3", **self._kwargs) as client:
            response = await client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as stream:
                data: bytes = await stream.read()
                return data

    async def delete(self, key: str) -> None:
        async with self._session.create_client("s3", **self._kwargs) as client:
            await client.delete_object(Bucket=self.bucket, Key=key)


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("CASE_S3_BUCKET is required for s3 storage")
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=(
                settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None
            ),
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key
                else None
            ),
            addressing_style=settings.s3_addressing_style,
        )
    return LocalStorage(settings.storage_dir)
