"""Contacts answer with an ETag (covering the embedded profile) and honour If-Match and
If-None-Match, like every versioned resource."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.api.test_social import contact_url, make_user
from tests.support import bearer

PATCH = {"Content-Type": "application/merge-patch+json"}


async def test_contact_etag_and_conditional_writes(client: httpx.AsyncClient) -> None:
    owner, friend = await make_user(client), await make_user(client)
    me = bearer(owner)
    created = await client.put(contact_url(owner, friend), json={"nickname": "a"}, headers=me)
    tag = created.headers["etag"]
    read = await client.get(contact_url(owner, friend), headers=me)
    assert read.status_code == 200 and read.headers["etag"] == tag
    assert read.json() == created.json()
    cached = await client.get(contact_url(owner, friend), headers={**me, "If-None-Match": tag})
    assert cached.status_code == 304

    stale = await client.patch(
        contact_url(owner, friend),
        json={"nickname": "b"},
        headers={**me, **PATCH, "If-Match": '"x"'},
    )
    assert stale.status_code == 412
    fresh = await client.patch(
        contact_url(owner, friend), json={"nickname": "b"}, headers={**me, **PATCH, "If-Match": tag}
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] != tag
    assert (
        await client.delete(contact_url(owner, friend), headers={**me, "If-Match": tag})
    ).status_code == 412
    put_missing = await client.put(
        contact_url(owner, await make_user(client)), headers={**me, "If-Match": tag}
    )
    assert put_missing.status_code == 412
    assert (
        await client.delete(
            contact_url(owner, friend), headers={**me, "If-Match": fresh.headers["etag"]}
        )
    ).status_code == 204
    assert (await client.get(contact_url(owner, friend), headers=me)).status_code == 404


async def test_contact_etag_changes_with_the_embedded_profile(client: httpx.AsyncClient) -> None:
    owner, friend = await make_user(client), await make_user(client)
    me = bearer(owner)
    tag = (await client.put(contact_url(owner, friend), headers=me)).headers["etag"]
    await client.patch(
        f"/v1/profiles/{friend}", json={"bio": "new"}, headers={**bearer(friend), **PATCH}
    )
    again = await client.get(contact_url(owner, friend), headers={**me, "If-None-Match": tag})
    assert again.status_code == 200 and again.json()["profile"]["bio"] == "new"


async def test_required_if_match_covers_contacts(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner, friend = await make_user(client), await make_user(client)
    me = bearer(owner)
    assert (await client.put(contact_url(owner, friend), headers=me)).status_code == 201
    app.state.settings.require_if_match = True
    try:
        blind = await client.patch(
            contact_url(owner, friend), json={"nickname": "x"}, headers={**me, **PATCH}
        )
        assert blind.status_code == 428
        assert (await client.delete(contact_url(owner, friend), headers=me)).status_code == 428
    finally:
        app.state.settings.require_if_match = False
