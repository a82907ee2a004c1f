"""Audiences (both databases): every configurable field at every audience, with the private
account switch on and off, read by the owner, a contact, a stranger and an admin through
every path that shows one user's profile to another (single, batch, by username, the hub,
GraphQL, embedded in a followers list, presence); ETags per audience; the privacy routes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from profilestore.domains.profiles import audiences
from profilestore.settings import Settings
from tests.api.test_social import contact_url, make_user
from tests.events_support import outbox_rows
from tests.support import ADMIN, bearer, client_for

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
FILLED = {
    "display_name": "Ann Lee",
    "bio": "Runner",
    "avatar_url": "https://img.example/ann.png",
    "locale": "en-GB",
    "timezone": "Europe/London",
}
READERS = ("owner", "contact", "stranger", "admin")
GRAPH_QUERY = """query($id: UUID!) {
  user(id: $id) { profile { displayName bio avatarUrl locale timezone } }
}"""


def expected_visible(field: str, audience: str, reader: str, private_account: bool) -> bool:
    """The rule, written out independently of the code under test."""
    if reader in ("owner", "admin"):
        return True
    if reader == "contact":
        return audience in ("public", "contacts")
    shown_by_private = field == "avatar_url"
    return audience == "public" and (not private_account or shown_by_private)


async def privacy(
    client: httpx.AsyncClient, user: uuid.UUID, patch: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.patch(
        f"/v1/profiles/{user}/privacy",
        json=patch,
        headers={**bearer(user), **MERGE_PATCH, **headers},
    )


async def people(client: httpx.AsyncClient) -> dict[str, Any]:
    """An owner with every built-in field filled, their contact (the owner added them), a
    stranger, and each reader's headers."""
    owner, contact, stranger = [await make_user(client) for _ in range(3)]
    answer = await client.patch(
        f"/v1/profiles/{owner}", json=FILLED, headers={**bearer(owner), **MERGE_PATCH}
    )
    assert answer.status_code == 200, answer.text
    assert (await client.put(contact_url(owner, contact), headers=bearer(owner))).status_code == 201
    headers = {
        "owner": bearer(owner),
        "contact": bearer(contact),
        "stranger": bearer(stranger),
        "admin": ADMIN,
    }
    return {"owner": owner, "contact": contact, "stranger": stranger, "headers": headers}


async def every_view(
    client: httpx.AsyncClient, owner: uuid.UUID, headers: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """What one reader gets of the owner's profile through every read path."""
    single = await client.get(f"/v1/profiles/{owner}", headers=headers)
    batch = await client.get("/v1/profiles", params={"ids": str(owner)}, headers=headers)
    username = single.json()["username"]
    by_name = await client.get("/v1/profiles", params={"username": username}, headers=headers)
    hub = await client.get(f"/v1/users/{owner}/profiles", headers=headers)
    query = GRAPH_QUERY
    graph = await client.post(
        "/graphql", json={"query": query, "variables": {"id": str(owner)}}, headers=headers
    )
    graph_profile = {
        snake: value
        for camel, value in graph.json()["data"]["user"]["profile"].items()
        for snake in [_snake(camel)]
        if value is not None
    }
    return [
        ("single", single.json()),
        ("batch", batch.json()["items"][0]),
        ("username", by_name.json()["items"][0]),
        ("hub", hub.json()["identity"]),
        ("graphql", graph_profile),
    ]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@pytest.mark.parametrize("private_account", [False, True])
@pytest.mark.parametrize("audience", audiences.AUDIENCES)
async def test_every_field_at_every_audience_on_every_read_path(
    client: httpx.AsyncClient, audience: str, private_account: bool
) -> None:
    cast = await people(client)
    owner = cast["owner"]
    patch: dict[str, Any] = dict.fromkeys(FILLED, audience) | {"private_account": private_account}
    assert (await privacy(client, owner, patch)).status_code == 200
    for reader in READERS:
        for path, body in await every_view(client, owner, cast["headers"][reader]):
            assert body["username"] if path != "graphql" else True
            for field, value in FILLED.items():
                shown = expected_visible(field, audience, reader, private_account)
                assert (body.get(field) == value) is shown, (path, reader, field, body)


async def test_the_audience_reaches_embedded_profiles_and_presence(
    client: httpx.AsyncClient,
) -> None:
    cast = await people(client)
    owner, contact, stranger = cast["owner"], cast["contact"], cast["stranger"]
    assert (await privacy(client, owner, {"bio": "contacts", "last_seen": "contacts"})).is_success
    beat = {"status": "online"}
    assert (
        await client.put(f"/v1/profiles/{owner}/presence", json=beat, headers=bearer(owner))
    ).is_success
    for follower in (contact, stranger):
        url = f"/v1/profiles/{follower}/following/{owner}"
        assert (await client.put(url, headers=bearer(follower))).is_success
    for reader, sees in ((contact, True), (stranger, False)):
        page = await client.get(f"/v1/profiles/{contact}/following", headers=bearer(reader))
        embedded = next(i["profile"] for i in page.json()["items"] if i["user_id"] == str(owner))
        assert ("bio" in embedded) is sees, embedded
        presence = await client.get(f"/v1/profiles/{owner}/presence", headers=bearer(reader))
        assert presence.json()["status"] == "online"
        assert ("last_seen" in presence.json()) is sees
    assert (await privacy(client, owner, {"status": "private"})).status_code == 200
    hidden = await client.get(f"/v1/profiles/{owner}/presence", headers=bearer(contact))
    assert hidden.status_code == 404
    listed = await client.get("/v1/presence", params={"ids": str(owner)}, headers=bearer(contact))
    assert listed.json()["items"] == []


async def test_etags_differ_per_audience_and_follow_privacy_changes(
    client: httpx.AsyncClient,
) -> None:
    cast = await people(client)
    owner, headers = cast["owner"], cast["headers"]
    await privacy(client, owner, {"bio": "contacts"})
    tags = {}
    for reader in READERS:
        answer = await client.get(f"/v1/profiles/{owner}", headers=headers[reader])
        tags[reader] = answer.headers["etag"]
        again = await client.get(
            f"/v1/profiles/{owner}", headers={**headers[reader], "If-None-Match": tags[reader]}
        )
        assert again.status_code == 304
    assert tags["owner"] == tags["admin"]
    assert len({tags["owner"], tags["contact"], tags["stranger"]}) == 3
    await privacy(client, owner, {"bio": "public"})
    for reader in ("contact", "stranger"):
        stale = await client.get(
            f"/v1/profiles/{owner}", headers={**headers[reader], "If-None-Match": tags[reader]}
        )
        assert stale.status_code == 200 and stale.json()["bio"] == FILLED["bio"]


async def test_a_contact_added_or_removed_changes_what_they_see_at_once(
    client: httpx.AsyncClient,
) -> None:
    cast = await people(client)
    owner, stranger = cast["owner"], cast["stranger"]
    await privacy(client, owner, {"bio": "contacts"})
    url, reader = f"/v1/profiles/{owner}", bearer(stranger)
    assert "bio" not in (await client.get(url, headers=reader)).json()
    await client.put(contact_url(owner, stranger), headers=bearer(owner))
    assert (await client.get(url, headers=reader)).json()["bio"] == FILLED["bio"]
    await client.delete(contact_url(owner, stranger), headers=bearer(owner))
    assert "bio" not in (await client.get(url, headers=reader)).json()


async def test_privacy_settings_routes(client: httpx.AsyncClient) -> None:
    cast = await people(client)
    owner, stranger = cast["owner"], cast["stranger"]
    url = f"/v1/profiles/{owner}/privacy"
    first = await client.get(url, headers=bearer(owner))
    assert first.status_code == 200
    assert first.json()["fields"]["bio"] == "public" and first.json()["private_account"] is False
    changed = await privacy(
        client,
        owner,
        {"bio": "contacts", "private_account": True},
        **{"If-Match": first.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["fields"]["bio"] == "contacts" and changed.json()["overridden"] == ["bio"]
    stale = await privacy(client, owner, {"bio": "private"}, **{"If-Match": first.headers["etag"]})
    assert stale.status_code == 412
    reset = await privacy(client, owner, {"bio": None})
    assert reset.json()["fields"]["bio"] == "public" and reset.json()["overridden"] == []
    assert (await client.get(url, headers=bearer(stranger))).status_code in (403, 404)
    intruder = {**bearer(stranger), **MERGE_PATCH}
    refused = await client.patch(url, json={"bio": "public"}, headers=intruder)
    assert refused.status_code in (403, 404)
    gone = uuid.uuid4()
    assert (await privacy(client, gone, {"bio": "public"})).status_code == 404
    profile = (await client.get(f"/v1/profiles/{owner}", headers=bearer(owner))).json()
    assert profile["private_account"] is True


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"bio": "friends"}, "body.bio"),
        ({"bio": 1}, "body.bio"),
        ({"username": "private"}, "body.username"),
        ({"nope": "public"}, "body.nope"),
        ({"private_account": "yes"}, "body.private_account"),
        ({"private_account": None}, "body.private_account"),
    ],
)
async def test_bad_privacy_patches_change_nothing(
    client: httpx.AsyncClient, patch: dict[str, Any], field: str
) -> None:
    owner = await make_user(client)
    before = (await client.get(f"/v1/profiles/{owner}/privacy", headers=bearer(owner))).json()
    answer = await privacy(client, owner, patch)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field
    after = (await client.get(f"/v1/profiles/{owner}/privacy", headers=bearer(owner))).json()
    assert after == before


async def test_events_carry_only_what_everyone_sees(client: httpx.AsyncClient, app: Any) -> None:
    owner = await make_user(client)
    await privacy(client, owner, {"bio": "contacts"})
    patch = {"bio": "secret", "display_name": "Shown"}
    await client.patch(
        f"/v1/profiles/{owner}", json=patch, headers={**bearer(owner), **MERGE_PATCH}
    )
    rows = [r for r in await outbox_rows(app.state.db) if r.type.endswith("ProfileUpdated")]
    data = rows[-1].payload["data"]
    assert data["values"] == {"display_name": "Shown"}  # bio changed, but not for everyone


async def test_custom_fields_follow_their_schema_audience_and_the_owners_override(
    settings: Settings, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "fields:\n"
        "  shoe_size: {type: integer, min: 15, max: 60, visibility: public}\n"
        "  team: {type: string, visibility: contacts}\n"
        "  blood_type: {type: string, enum: [A, B, AB, O]}\n"
    )
    async with client_for(settings.model_copy(update={"profile_schema": schema})) as client:
        cast = await people(client)
        owner, headers = cast["owner"], cast["headers"]
        values = {"fields": {"shoe_size": 42, "team": "Reds", "blood_type": "O"}}
        patch = await client.patch(
            f"/v1/profiles/{owner}", json=values, headers={**bearer(owner), **MERGE_PATCH}
        )
        assert patch.status_code == 200, patch.text

        async def seen() -> dict[str, set[str]]:
            url = f"/v1/profiles/{owner}"
            return {
                reader: set((await client.get(url, headers=headers[reader])).json()["fields"])
                for reader in READERS
            }

        everything = {"shoe_size", "team", "blood_type"}
        assert await seen() == {
            "owner": everything,
            "admin": everything,
            "contact": {"shoe_size", "team"},
            "stranger": {"shoe_size"},
        }
        answer = await privacy(client, owner, {"shoe_size": "private", "blood_type": "contacts"})
        assert answer.json()["fields"]["blood_type"] == "contacts"
        after = await seen()
        assert after["contact"] == {"team", "blood_type"} and after["stranger"] == set()
