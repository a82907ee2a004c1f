"""Deleting a profile removes every row of it and every row that points at it, in every
domain, with the events, in one transaction. The rows are made by walking the route table:
every write route under ``/v1/profiles/{user_id}/...`` that names a second user is called
with the deleted user on both sides, so a domain added later is covered without editing
this test."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Uuid, select

from profilestore.migrations.runner import target_metadata
from tests.api.test_authorization_matrix import request_body
from tests.api.test_social import contact_url, make_user
from tests.events_support import outbox_rows
from tests.support import bearer

PLATFORM_TABLES = {"outbox", "relay_leases", "idempotency_keys", "audit_log"}
"""Tables the cascade leaves: the platform's bookkeeping, and the audit log, which records
the deletion (an erasure removes it)."""
SECOND_USER = re.compile(r"\{(\w+_user_id)\}")


def _pairwise_writes(app: FastAPI) -> list[APIRoute]:
    """The PUT routes linking the owner to a second user, the block last (it undoes follows
    and refuses new ones)."""
    routes = [
        route
        for route in app.routes
        if isinstance(route, APIRoute)
        and route.path_format.startswith("/v1/profiles/{user_id}/")
        and SECOND_USER.search(route.path_format)
        and "PUT" in route.methods
    ]
    return sorted(routes, key=lambda route: "{blocked_user_id}" in route.path_format)


async def _link(client: httpx.AsyncClient, app: FastAPI, owner: uuid.UUID, other: uuid.UUID) -> int:
    made = 0
    # the second user asks to follow the owner, whose PUT .../followers/{other} accepts it
    await client.put(f"/v1/profiles/{other}/following/{owner}", headers=bearer(other))
    for route in _pairwise_writes(app):
        path = SECOND_USER.sub(str(other), route.path_format.replace("{user_id}", str(owner)))
        response = await client.put(path, **request_body(route, bearer(owner)))
        assert response.status_code in (200, 201), (route.path_format, response.text)
        made += 1
    return made


OWN_PARAMETERS = {"video_id": "cascade.video"}
REMOVING = {"/v1/profiles/{user_id}/erase"}
"""POST routes that remove the user's rows instead of making one."""


async def _own_rows(client: httpx.AsyncClient, app: FastAPI, owner: uuid.UUID) -> int:
    """Call every POST/PUT route of the owner's own resources (every domain's, found in the
    route table) once, so that each user-keyed table holds a row of ``owner``."""
    made = 0
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path_format.startswith(
            "/v1/profiles/{user_id}/"
        ):
            continue
        names = set(re.findall(r"\{(\w+)\}", route.path_format)) - {"user_id"}
        if not names <= set(OWN_PARAMETERS) or not {"POST", "PUT"} & route.methods:
            continue
        if route.path_format in REMOVING:
            continue
        path = route.path_format.replace("{user_id}", str(owner))
        for name, value in OWN_PARAMETERS.items():
            path = path.replace("{" + name + "}", value)
        method = "POST" if "POST" in route.methods else "PUT"
        response = await client.request(method, path, **request_body(route, bearer(owner)))
        assert response.status_code in (200, 201, 204), (route.path_format, response.text)
        made += 1
    return made


async def _rows_naming(app: FastAPI, user: uuid.UUID) -> dict[str, int]:
    found: dict[str, int] = {}
    async with app.state.db.read_session() as session:
        for table in target_metadata().sorted_tables:
            if table.name in PLATFORM_TABLES:
                continue
            for column in table.columns:
                if isinstance(column.type, Uuid):
                    rows = (await session.execute(select(table).where(column == user))).all()
                    if rows:
                        found[f"{table.name}.{column.name}"] = len(rows)
    return found


async def test_delete_removes_every_row_pointing_at_the_user(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    gone, x, y = await make_user(client), await make_user(client), await make_user(client)
    assert await _link(client, app, x, gone) >= 2  # contacts and blocks (more domains later)
    # y's contact of `gone` is made first (once `gone` blocks y, y cannot add them); x's
    # contact of `gone` was replaced by x's block of `gone`.
    assert (await client.put(contact_url(y, gone), headers=bearer(y))).status_code == 201
    await _link(client, app, gone, y)
    assert await _own_rows(client, app, gone) >= 5
    owned = await _rows_naming(app, gone)
    assert {"media_watchlist.user_id", "media_history.user_id", "media_ratings.user_id"} <= set(
        owned
    )
    before = len(await outbox_rows(app.state.db))

    assert (await client.delete(f"/v1/profiles/{gone}", headers=bearer(gone))).status_code == 204

    assert await _rows_naming(app, gone) == {}
    aggregate = await client.get(
        f"/v1/videos/{OWN_PARAMETERS['video_id']}/ratings", headers=bearer(x)
    )
    assert aggregate.json()["count"] == 0  # corrected in the deleting transaction
    events = [row.payload for row in (await outbox_rows(app.state.db))[before:]]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"].rsplit(".", 1)[-1], []).append(event)
    assert [e["subject"] for e in by_type["ContactRemoved"]] == [str(y)]
    assert [e["subject"] for e in by_type["UserUnblocked"]] == [str(x)]
    assert [e["subject"] for e in by_type["ProfileDeleted"]] == [str(gone)]
    listed = await client.get(f"/v1/profiles/{y}/contacts", headers=bearer(y))
    assert listed.json()["items"] == []
    patched = await client.patch(
        contact_url(y, gone),
        json={"nickname": "z"},
        headers={**bearer(y), "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 404


async def test_delete_of_a_missing_profile_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    x = await make_user(client)
    before = len(await outbox_rows(app.state.db))
    missing = uuid.uuid4()
    assert (
        await client.delete(f"/v1/profiles/{missing}", headers=bearer(missing))
    ).status_code == 204
    assert len(await outbox_rows(app.state.db)) == before
    assert (await client.get(f"/v1/profiles/{x}", headers=bearer(x))).status_code == 200


async def test_list_and_write_rules_agree_on_missing_profiles(client: httpx.AsyncClient) -> None:
    """Contacts and blocks of a user without a profile are both 404; PUT of a contact or a
    block with no body are both accepted (every field has a default)."""
    nobody = uuid.uuid4()
    for kind in ("contacts", "blocks"):
        listed = await client.get(f"/v1/profiles/{nobody}/{kind}", headers=bearer(nobody))
        assert listed.status_code == 404, kind
    owner, other = await make_user(client), await make_user(client)
    for kind in ("contacts", "blocks"):
        put = await client.put(f"/v1/profiles/{owner}/{kind}/{other}", headers=bearer(owner))
        assert put.status_code == 201, (kind, put.text)
