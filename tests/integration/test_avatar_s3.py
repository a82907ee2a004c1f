"""Avatars in an S3-compatible store: a real moto server process on a loopback port (no mock
object), spoken to over HTTP by boto3 as any S3 store would be. The blob store's own
operations, then the avatar routes end to end: upload, serve, replace, remove, erase."""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import boto3
import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from profilestore.platform.blobs import S3BlobStore, build_blob_store
from profilestore.settings import Settings
from tests.serving import BIN, free_port
from tests.support import bearer, client_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server this module owns (stopped afterwards)."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(endpoint, server)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for(endpoint: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"moto_server exited with {server.returncode}")
        try:
            httpx.get(endpoint, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("moto_server did not come up")


@pytest.fixture
def s3_settings(s3_endpoint: str, settings: Settings) -> Settings:
    """The test app's settings (each database, emptied afterwards) with its blobs in a new
    bucket of the moto server."""
    bucket = f"avatars-{uuid.uuid4().hex[:12]}"
    settings = settings.model_copy(
        update={
            "blob_s3_bucket": bucket,
            "blob_s3_endpoint_url": s3_endpoint,
            "blob_s3_region": "us-east-1",
            "blob_s3_access_key_id": "testing",
            "blob_s3_secret_access_key": SecretStr("testing"),
        }
    )
    store = build_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    store.client.create_bucket(Bucket=bucket)
    return settings


def keys(settings: Settings, prefix: str = "") -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=settings.blob_s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = client.list_objects_v2(Bucket=settings.blob_s3_bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_the_store_puts_gets_and_deletes(s3_settings: Settings) -> None:
    store = build_blob_store(s3_settings)
    await store.put("avatars/a/1.webp", b"one", "image/webp")
    await store.put("avatars/a/2.webp", b"two", "image/webp")
    await store.put("avatars/b/1.webp", b"other", "image/webp")
    assert await store.get("avatars/a/1.webp") == b"one"
    assert await store.get("avatars/a/missing.webp") is None
    await store.delete(["avatars/a/1.webp", "avatars/a/never.webp"])
    assert keys(s3_settings) == ["avatars/a/2.webp", "avatars/b/1.webp"]
    await store.delete_prefix("avatars/a/")
    assert keys(s3_settings) == ["avatars/b/1.webp"]
    with pytest.raises(ValueError, match="unsafe"):
        await store.put("../escape", b"x", "image/webp")


@pytest.fixture
async def client(s3_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(s3_settings) as http:
        yield http


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), color).save(out, format="PNG")
    return out.getvalue()


async def put_avatar(client: httpx.AsyncClient, user: uuid.UUID, data: bytes) -> str:
    answer = await client.put(
        f"/v1/profiles/{user}/avatar",
        content=data,
        headers={**bearer(user), "Content-Type": "image/png"},
    )
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["avatar_url"]
    return url


async def test_avatars_live_in_the_bucket(client: httpx.AsyncClient, s3_settings: Settings) -> None:
    user = uuid.uuid4()
    made = await client.put(
        f"/v1/profiles/{user}", json={"username": f"s3{user.hex[:10]}"}, headers=bearer(user)
    )
    assert made.status_code == 201
    first = await put_avatar(client, user, png((255, 0, 0)))
    digest = first.rsplit("=", 1)[1]
    assert keys(s3_settings) == [f"avatars/{user}/{digest}/{s}.webp" for s in (256, 512, 64)]
    served = await client.get(f"{first}&size=64", headers=bearer(user))
    assert served.status_code == 200 and served.headers["etag"] == f'"{digest}-64"'
    assert Image.open(io.BytesIO(served.content)).size == (64, 64)

    second = await put_avatar(client, user, png((0, 0, 255)))
    assert {key.split("/")[2] for key in keys(s3_settings)} == {second.rsplit("=", 1)[1]}
    removed = await client.delete(f"/v1/profiles/{user}/avatar", headers=bearer(user))
    assert removed.status_code == 204 and keys(s3_settings) == []

    await put_avatar(client, user, png((0, 255, 0)))
    erased = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert erased.status_code == 200, erased.text
    assert keys(s3_settings) == []
