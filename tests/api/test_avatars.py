"""PUT/GET/DELETE /v1/profiles/{user_id}/avatar (both databases, local blob store): the upload
is checked from its bytes, re-encoded as WebP at 64/256/512 px without metadata, written with
its events in the profile's transaction, served with an ETag and a long cache lifetime for the
versioned URL; bad uploads get a 4xx and change nothing; replaced, removed, deleted and erased
avatars leave no file."""

from __future__ import annotations

import io
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from profilestore.domains.profiles import avatars
from profilestore.platform.errors import ProblemError
from tests.api.test_erasure import outbox
from tests.api.test_social import block_url, make_user
from tests.support import ADMIN, bearer

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encoded(image: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **options)
    return out.getvalue()


def png(size: tuple[int, int] = (300, 200), color: Any = RED, mode: str = "RGB") -> bytes:
    return encoded(Image.new(mode, size, color), "PNG")


def near(pixel: Any, expected: tuple[int, int, int]) -> bool:
    """Equal but for lossy WebP's rounding."""
    return all(abs(a - b) <= 8 for a, b in zip(pixel, expected, strict=True))


def avatar_url(user: uuid.UUID) -> str:
    return f"/v1/profiles/{user}/avatar"


async def upload(
    client: httpx.AsyncClient, user: uuid.UUID, data: bytes, media: str = "image/png"
) -> httpx.Response:
    headers = {**bearer(user), "Content-Type": media}
    return await client.put(avatar_url(user), content=data, headers=headers)


async def fetch(client: httpx.AsyncClient, url: str, viewer: uuid.UUID) -> Image.Image:
    answer = await client.get(url, headers=bearer(viewer))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "WEBP"
    return image


def stored_files(app: FastAPI, user: uuid.UUID) -> list[str]:
    root: Path = app.state.settings.data_dir / "blobs"
    folder = root / avatars.folder(user)
    return sorted(str(path.relative_to(root)) for path in folder.rglob("*") if path.is_file())


async def event_types(app: FastAPI, user: uuid.UUID) -> list[str]:
    return [row.type.rsplit(".", 1)[1] for row in await outbox(app, user)]


async def test_an_upload_is_stored_at_three_sizes_and_served_versioned(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, viewer = await make_user(client), await make_user(client)
    answer = await upload(client, user, png())
    assert answer.status_code == 200, answer.text
    profile = answer.json()
    assert profile["version"] == 2 and answer.headers["etag"] == '"2"'
    url = profile["avatar_url"]
    digest = url.rsplit("?v=", 1)[1]
    assert url == f"http://test/v1/profiles/{user}/avatar?v={digest}"
    assert stored_files(app, user) == [f"avatars/{user}/{digest}/{s}.webp" for s in (256, 512, 64)]
    for size in (64, 256, 512):
        image = await fetch(client, f"{url}&size={size}", viewer)
        assert image.size == (size, size) and near(image.convert("RGB").getpixel((5, 5)), RED)
    answer = await client.get(f"{url}&size=64", headers=bearer(viewer))
    assert answer.headers["etag"] == f'"{digest}-64"'
    assert answer.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = await client.get(
        f"{url}&size=64", headers={**bearer(viewer), "If-None-Match": f'"{digest}-64"'}
    )
    assert again.status_code == 304 and not again.content
    unversioned = await client.get(avatar_url(user), headers=bearer(viewer))
    assert unversioned.headers["cache-control"] == "private, no-cache"
    assert Image.open(io.BytesIO(unversioned.content)).size == (256, 256)
    assert (await event_types(app, user))[-2:] == ["ProfileUpdated", "AvatarChanged"]


async def test_exif_is_applied_then_stripped(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    source = Image.new("RGB", (200, 100), BLUE)
    source.paste(RED, (0, 0, 100, 100))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display, so the left goes on top
    exif[0x010F] = "SecretCam"  # Make
    data = encoded(source, "JPEG", exif=exif.tobytes(), quality=95)
    answer = await upload(client, user, data, "image/jpeg")
    assert answer.status_code == 200, answer.text
    image = await fetch(client, answer.json()["avatar_url"] + "&size=512", user)
    assert not image.getexif() and "exif" not in image.info
    top, bottom = (
        image.convert("RGB").getpixel((256, 100)),
        image.convert("RGB").getpixel((256, 400)),
    )
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


@pytest.mark.parametrize(
    ("name", "image", "expected"),
    [
        ("cmyk-jpeg", encoded(Image.new("CMYK", (80, 80), (0, 255, 255, 0)), "JPEG"), (255, 0, 0)),
        ("16-bit-png", png((80, 80), 32768, "I;16"), (128, 128, 128)),
        ("palette-gif", encoded(Image.new("P", (80, 80), 3), "GIF"), None),
    ],
)
async def test_uncommon_modes_are_converted_not_clipped(
    client: httpx.AsyncClient, name: str, image: bytes, expected: tuple[int, int, int] | None
) -> None:
    user = await make_user(client)
    answer = await upload(client, user, image, "image/png")
    assert answer.status_code == 200, (name, answer.text)
    served = (await fetch(client, answer.json()["avatar_url"], user)).convert("RGB")
    if expected is not None:
        assert near(served.getpixel((10, 10)), expected), (name, served.getpixel((10, 10)))


async def test_transparency_survives_and_an_animation_gives_its_first_frame(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client)
    answer = await upload(client, user, png((64, 64), (0, 0, 0, 0), "RGBA"))
    image = await fetch(client, answer.json()["avatar_url"], user)
    assert image.mode == "RGBA" and image.getpixel((3, 3))[3] == 0
    frames = [Image.new("RGB", (50, 50), color) for color in (BLUE, RED, RED)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    answer = await upload(client, user, gif, "image/gif")
    assert answer.status_code == 200, answer.text
    first = (await fetch(client, answer.json()["avatar_url"], user)).convert("RGB")
    pixel = first.getpixel((20, 20))
    assert pixel[2] > 200 > pixel[0]


async def test_a_polyglot_is_stored_as_a_plain_image(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    payload = b"<html><script>alert(1)</script></html>PK\x03\x04hidden.zip"
    answer = await upload(client, user, png() + payload)
    assert answer.status_code == 200, answer.text
    for path in stored_files(app, user):
        content = (app.state.settings.data_dir / "blobs" / path).read_bytes()
        assert b"script" not in content and b"PK\x03\x04" not in content
        assert content[:4] == b"RIFF" and content[8:12] == b"WEBP"


def huge_png_header() -> bytes:
    """A valid PNG header that claims 100000 x 100000 pixels, in a few hundred bytes."""
    data = bytearray(png((1, 1)))
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")  # the IHDR chunk's checksum
    return bytes(data)


def gif_bomb() -> bytes:
    """A GIF whose header claims 20000 x 20000 pixels (a decompression bomb)."""
    data = bytearray(encoded(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = (20000).to_bytes(2, "little") * 2
    return bytes(data)


BAD_UPLOADS = [
    ("text", b"hello, not an image", "image/png", 415, "unsupported-media-type"),
    ("html", b"<html><body>hi</body></html>", "image/png", 415, "unsupported-media-type"),
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/png", 415, None),
    ("declared-text", png(), "text/plain", 415, "unsupported-media-type"),
    ("json", b'{"avatar": 1}', "application/json", 415, "unsupported-media-type"),
    ("truncated", png((400, 400), RED)[:120], "image/png", 422, "invalid-image"),
    ("huge-dimension", huge_png_header(), "image/png", 422, "image-too-large"),
    ("bomb", gif_bomb(), "image/gif", 422, "image-too-large"),
    ("too-big", b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024), "image/png", 413, None),
]


@pytest.mark.parametrize(
    ("name", "body", "media", "status", "problem"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS]
)
async def test_bad_uploads_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    name: str,
    body: bytes,
    media: str,
    status: int,
    problem: str | None,
) -> None:
    user = await make_user(client)
    answer = await upload(client, user, body, media)
    assert answer.status_code == status, (name, answer.text)
    assert answer.headers["content-type"] == "application/problem+json"
    if problem is not None:
        assert answer.json()["type"].endswith(problem), answer.json()
    profile = (await client.get(f"/v1/profiles/{user}", headers=bearer(user))).json()
    assert profile["version"] == 1 and profile["avatar_url"] is None
    assert stored_files(app, user) == []


async def test_a_replaced_avatar_leaves_no_old_file(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    first = (await upload(client, user, png(color=RED))).json()["avatar_url"]
    second = (await upload(client, user, png(color=BLUE))).json()["avatar_url"]
    assert first != second
    digest = second.rsplit("=", 1)[1]
    assert {path.split("/")[2] for path in stored_files(app, user)} == {digest}
    assert (await client.get(first, headers=bearer(user))).status_code == 404
    same = await upload(client, user, png(color=BLUE))
    assert same.json()["avatar_url"] == second and len(stored_files(app, user)) == 3


async def test_delete_removes_every_size_and_is_idempotent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    url = (await upload(client, user, png())).json()["avatar_url"]
    assert (await client.delete(avatar_url(user), headers=bearer(user))).status_code == 204
    assert stored_files(app, user) == []
    profile = (await client.get(f"/v1/profiles/{user}", headers=bearer(user))).json()
    assert profile["avatar_url"] is None and profile["version"] == 3
    assert (await client.get(url, headers=bearer(user))).status_code == 404
    assert (await event_types(app, user))[-2:] == ["ProfileUpdated", "AvatarRemoved"]
    assert (await client.delete(avatar_url(user), headers=bearer(user))).status_code == 204
    assert (await client.get(f"/v1/profiles/{user}", headers=bearer(user))).json()["version"] == 3


async def test_a_failed_write_removes_the_files_it_stored(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user(client)

    def refuse(*_: object) -> None:
        raise ProblemError(409, "conflict", "A concurrent write conflicted; retry.")

    monkeypatch.setattr(avatars, "emit_avatar", refuse)
    assert (await upload(client, user, png())).status_code == 409
    assert stored_files(app, user) == []
    profile = (await client.get(f"/v1/profiles/{user}", headers=bearer(user))).json()
    assert profile["avatar_url"] is None and profile["version"] == 1


async def test_who_may_upload_see_and_remove(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner, other, blocked = [await make_user(client) for _ in range(3)]
    refused = await client.put(
        avatar_url(owner), content=png(), headers={**bearer(other), "Content-Type": "image/png"}
    )
    assert refused.status_code == 403 and stored_files(app, owner) == []
    admin = await client.put(
        avatar_url(owner), content=png(), headers={**ADMIN, "Content-Type": "image/png"}
    )
    assert admin.status_code == 200, admin.text
    url = admin.json()["avatar_url"]
    assert (await client.get(url, headers=bearer(other))).status_code == 200
    assert (await client.get(url)).status_code == 401
    blocking = await client.put(block_url(owner, blocked), json={}, headers=bearer(owner))
    assert blocking.status_code == 201
    assert (await client.get(url, headers=bearer(blocked))).status_code == 404
    assert (await client.delete(avatar_url(owner), headers=bearer(other))).status_code == 403
    assert len(stored_files(app, owner)) == 3
    stale = await client.put(
        avatar_url(owner),
        content=png(),
        headers={**bearer(owner), "Content-Type": "image/png", "If-Match": '"1"'},
    )
    assert stale.status_code == 412


async def test_no_profile_no_avatar(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = uuid.uuid4()
    assert (await upload(client, user, png())).status_code == 404
    assert stored_files(app, user) == []
    answer = await client.get(avatar_url(user), headers=bearer(user))
    assert answer.status_code == 404
    bad_size = await client.get(avatar_url(user) + "?size=100", headers=bearer(user))
    assert bad_size.status_code == 422


@pytest.mark.parametrize("how", ["delete", "erase"])
async def test_deleting_or_erasing_the_profile_removes_the_files(
    client: httpx.AsyncClient, app: FastAPI, how: str
) -> None:
    user, other = await make_user(client), await make_user(client)
    for owner in (user, other):
        assert (await upload(client, owner, png())).status_code == 200
    if how == "delete":
        answer = await client.delete(f"/v1/profiles/{user}", headers=bearer(user))
    else:
        answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert answer.status_code in (200, 204), answer.text
    assert stored_files(app, user) == []
    assert len(stored_files(app, other)) == 3
