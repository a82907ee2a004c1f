"""Blob storage: files a domain keeps outside the database (avatar images).

Embedded default: a directory under ``PROFILESTORE_DATA_DIR``. Production: any S3-compatible
store (``PROFILESTORE_BLOB_S3_*``). Keys are ``/``-separated relative paths of safe characters;
a domain puts a user's blobs under a prefix of their own (``avatars/<user_id>/``) so that one
call forgets them all.

Both stores do their blocking I/O in a worker thread (boto3 is synchronous), so a slow store
never stalls the event loop."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from profilestore.settings import Settings

_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


def check_key(key: str) -> str:
    """``key`` if it is a relative path of safe parts (no ``..``, no leading ``/`` or dot)."""
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"unsafe blob key: {key!r}")
    return key


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None when there is none."""
        ...

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove these blobs (missing ones are no error)."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every blob whose key starts with ``prefix`` (a folder: ends with ``/``)."""
        ...


class LocalBlobStore:
    """Blobs as files under ``root``, each written to a temporary file and renamed into place
    (a reader never sees half a file)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(key) for key in keys]
        await asyncio.to_thread(_unlink_all, paths)

    async def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix.rstrip("/"))
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class S3BlobStore:
    """Blobs as objects in one bucket of an S3-compatible store (AWS S3, MinIO, Ceph, R2...)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, check_key(key))

    def _read(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body

    async def delete(self, keys: Iterable[str]) -> None:
        objects = [{"Key": check_key(key)} for key in keys]
        if objects:
            await asyncio.to_thread(self._delete_objects, objects)

    def _delete_objects(self, objects: list[dict[str, str]]) -> None:
        for start in range(0, len(objects), 1000):  # the most one request may name
            batch = {"Objects": objects[start : start + 1000], "Quiet": True}
            self.client.delete_objects(Bucket=self.bucket, Delete=batch)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(self._delete_prefix, check_key(prefix.rstrip("/")) + "/")

    def _delete_prefix(self, prefix: str) -> None:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self._delete_objects(objects)


def build_blob_store(settings: Settings) -> BlobStore:
    """S3 when a bucket is configured, else a directory under the data directory."""
    if settings.blob_s3_bucket is None:
        return LocalBlobStore(settings.data_dir / "blobs")
    import boto3  # only production configurations need it loaded

    secret = settings.blob_s3_secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.blob_s3_endpoint_url,
        region_name=settings.blob_s3_region,
        aws_access_key_id=settings.blob_s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    return S3BlobStore(client, settings.blob_s3_bucket)
