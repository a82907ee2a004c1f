"""Every path that embeds another user's profile applies the block rule, and blocking says
nothing about whether a user exists. (Issue 8: C adds D, D blocks C, D edits their profile;
PATCH on C's contact D answered 200 with D's current profile.)"""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_social import block_url, contact_url, make_user
from tests.support import ADMIN, bearer

PATCH = {"Content-Type": "application/merge-patch+json"}


async def _c_has_d_who_blocks_c(client: httpx.AsyncClient) -> tuple[uuid.UUID, uuid.UUID]:
    c, d = await make_user(client), await make_user(client)
    assert (await client.put(contact_url(c, d), headers=bearer(c))).status_code == 201
    assert (await client.put(block_url(d, c), headers=bearer(d))).status_code == 201
    edit = await client.patch(
        f"/v1/profiles/{d}", json={"bio": "secret-after-block"}, headers={**bearer(d), **PATCH}
    )
    assert edit.status_code == 200
    return c, d


async def test_contact_writes_do_not_embed_a_blocker(client: httpx.AsyncClient) -> None:
    c, d = await _c_has_d_who_blocks_c(client)
    for who in (bearer(c), ADMIN):
        patched = await client.patch(
            contact_url(c, d), json={"nickname": "x"}, headers={**who, **PATCH}
        )
        assert patched.status_code == 404, patched.text
        assert "secret-after-block" not in patched.text
        put = await client.put(contact_url(c, d), json={"nickname": "x"}, headers=who)
        assert put.status_code == 404 and "secret-after-block" not in put.text


async def test_contact_reads_do_not_embed_a_blocker(client: httpx.AsyncClient) -> None:
    c, _ = await _c_has_d_who_blocks_c(client)
    for who in (bearer(c), ADMIN):
        listed = await client.get(f"/v1/profiles/{c}/contacts", headers=who)
        assert listed.status_code == 200 and listed.json()["items"] == []
        assert "secret-after-block" not in listed.text


async def test_profile_reads_hide_a_blocker(client: httpx.AsyncClient) -> None:
    c, d = await _c_has_d_who_blocks_c(client)
    me = bearer(c)
    assert (await client.get(f"/v1/profiles/{d}", headers=me)).status_code == 404
    assert (await client.get(f"/v1/profiles/{d}/presence", headers=me)).status_code == 404
    batch = await client.get("/v1/profiles", params={"ids": f"{d},{c}"}, headers=me)
    assert [p["user_id"] for p in batch.json()["items"]] == [str(c)]
    username = (await client.get(f"/v1/profiles/{d}", headers=ADMIN)).json()["username"]
    found = await client.get("/v1/profiles", params={"username": username}, headers=me)
    assert found.json()["items"] == []


async def test_unblocked_contact_is_embedded_again(client: httpx.AsyncClient) -> None:
    c, d = await _c_has_d_who_blocks_c(client)
    assert (await client.delete(block_url(d, c), headers=bearer(d))).status_code == 204
    patched = await client.patch(
        contact_url(c, d), json={"nickname": "x"}, headers={**bearer(c), **PATCH}
    )
    assert patched.status_code == 200
    assert patched.json()["profile"]["bio"] == "secret-after-block"


async def test_blocking_reveals_no_existence(client: httpx.AsyncClient) -> None:
    """Blocking answers the same whether or not the other user has a profile, and whether or
    not they block the caller: any user id can be blocked."""
    c, d = await _c_has_d_who_blocks_c(client)
    nobody = uuid.uuid4()
    answers = [await client.put(block_url(c, other), headers=bearer(c)) for other in (d, nobody)]
    assert [a.status_code for a in answers] == [201, 201]
    assert set(answers[0].json()) == set(answers[1].json())
    listed = await client.get(f"/v1/profiles/{c}/blocks", headers=bearer(c))
    assert {b["blocked_user_id"] for b in listed.json()["items"]} == {str(d), str(nobody)}


async def test_a_block_made_in_advance_holds_when_they_sign_up(
    client: httpx.AsyncClient,
) -> None:
    c = await make_user(client)
    later = uuid.uuid4()
    assert (await client.put(block_url(c, later), headers=bearer(c))).status_code == 201
    body = {"username": f"late{later.hex[:8]}"}
    assert (
        await client.put(f"/v1/profiles/{later}", json=body, headers=bearer(later))
    ).status_code == 201
    assert (await client.get(f"/v1/profiles/{c}", headers=bearer(later))).status_code == 404
