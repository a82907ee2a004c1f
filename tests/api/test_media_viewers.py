"""Media viewer profiles and the watchlist: rules, pagination, caching, events."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from profilestore.domains.media.models import WatchlistItem
from profilestore.settings import Settings
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer, client_for

MERGE = {"content-type": "application/merge-patch+json"}


def media(user: uuid.UUID, path: str) -> str:
    return f"/v1/profiles/{user}/{path}"


async def add_viewer(client: httpx.AsyncClient, user: uuid.UUID, name: str) -> str:
    response = await client.post(media(user, "viewers"), json={"name": name}, headers=bearer(user))
    assert response.status_code == 201, response.text
    viewer_id: str = response.json()["viewer_id"]
    return viewer_id


async def test_the_account_is_its_default_viewer(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    listed = await client.get(media(user, "viewers"), headers=bearer(user))
    assert listed.status_code == 200
    (default,) = listed.json()["items"]
    assert default["viewer_id"] == "default" and default["is_default"] and default["version"] == 0
    assert listed.json()["max_viewers"] == 5
    changed = await client.patch(
        media(user, "viewers/default"),
        json={"language": "de-DE", "maturity": "teen"},
        headers={**bearer(user), **MERGE, "If-Match": '"0"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == "de-DE" and changed.json()["version"] == 1
    assert changed.headers["etag"] == '"1"'
    stale = await client.patch(
        media(user, "viewers/default"),
        json={"language": "fr"},
        headers={**bearer(user), **MERGE, "If-Match": '"0"'},
    )
    assert stale.status_code == 412
    refused = await client.delete(media(user, "viewers/default"), headers=bearer(user))
    assert refused.status_code == 409 and refused.json()["type"].endswith("default-viewer")
    again = await client.get(media(user, "viewers/default"), headers=bearer(user))
    assert again.json()["language"] == "de-DE"
    cached = await client.get(
        media(user, "viewers/default"), headers={**bearer(user), "If-None-Match": '"1"'}
    )
    assert cached.status_code == 304


async def test_viewer_rules(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await make_user(client)
    kid = await add_viewer(client, user, "Kid")
    taken = await client.post(media(user, "viewers"), json={"name": " kid "}, headers=bearer(user))
    assert taken.status_code == 409 and taken.json()["type"].endswith("viewer-name-taken")
    for bad in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "a\u0000b"},
        {"name": "ok", "maturity": "adult"},
        {"name": "ok", "language": "not a tag"},
        {"name": "ok", "avatar_url": "ftp://x/y.png"},
        {"name": "ok", "viewer_id": "mine"},
        {},
    ):
        response = await client.post(media(user, "viewers"), json=bad, headers=bearer(user))
        assert response.status_code == 422, bad
    renamed = await client.patch(
        media(user, f"viewers/{kid}"), json={"name": None}, headers={**bearer(user), **MERGE}
    )
    assert renamed.status_code == 422  # only the account's own viewer may have no name
    for name in ("Two", "Three", "Four"):
        await add_viewer(client, user, name)
    full = await client.post(media(user, "viewers"), json={"name": "Five"}, headers=bearer(user))
    assert full.status_code == 409 and full.json()["type"].endswith("viewers-full")
    listed = (await client.get(media(user, "viewers"), headers=bearer(user))).json()["items"]
    assert [v["name"] for v in listed] == [None, "Kid", "Two", "Three", "Four"]
    async with client_for(settings.model_copy(update={"media_max_viewers": 6})) as roomier:
        more = await roomier.post(
            media(user, "viewers"), json={"name": "Five"}, headers=bearer(user)
        )
        assert more.status_code == 201


async def test_unknown_viewers_and_profiles_are_404_on_every_media_route(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client)
    nobody = uuid.uuid4()
    beat = {"video_id": "v1", "position_seconds": 1, "duration_seconds": 10}
    for owner, query in ((user, "?viewer=ghost"), (nobody, "")):
        me = bearer(owner)
        calls = [
            client.get(media(owner, f"watchlist{query}"), headers=me),
            client.post(media(owner, f"watchlist{query}"), json={"video_id": "v1"}, headers=me),
            client.delete(media(owner, f"watchlist/v1{query}"), headers=me),
            client.post(media(owner, f"history{query}"), json=beat, headers=me),
            client.get(media(owner, f"history{query}"), headers=me),
            client.delete(media(owner, f"history{query}"), headers=me),
            client.get(media(owner, f"continue-watching{query}"), headers=me),
            client.delete(media(owner, f"continue-watching/v1{query}"), headers=me),
            client.get(media(owner, f"resume/v1{query}"), headers=me),
            client.put(media(owner, f"ratings/v1{query}"), json={"stars": 3}, headers=me),
            client.get(media(owner, f"ratings{query}"), headers=me),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, (owner, query, response.request.url)
            assert response.headers["content-type"] == "application/problem+json"
    bad = await client.get(media(user, "watchlist?viewer=no%20spaces"), headers=bearer(user))
    assert bad.status_code == 422


async def test_watchlist_add_twice_list_and_remove(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    me = bearer(user)
    added = await client.post(
        media(user, "watchlist"), json={"video_id": "tt01", "note": "for friday"}, headers=me
    )
    assert added.status_code == 201
    again = await client.post(media(user, "watchlist"), json={"video_id": "tt01"}, headers=me)
    assert again.status_code == 200 and again.json() == added.json()  # unchanged, note kept
    for video in ("tt02", "tt03"):
        assert (
            await client.post(media(user, "watchlist"), json={"video_id": video}, headers=me)
        ).status_code == 201
    page = (await client.get(media(user, "watchlist"), headers=me)).json()
    assert [item["video_id"] for item in page["items"]] == ["tt03", "tt02", "tt01"]
    asked = await client.get(media(user, "watchlist?video_id=tt02,nope,tt01"), headers=me)
    assert [item["video_id"] for item in asked.json()["items"]] == ["tt02", "tt01"]
    for bad in ("a%20b", ",", "x" * 129, ",".join(f"v{i}" for i in range(101))):
        response = await client.get(media(user, f"watchlist?video_id={bad}"), headers=me)
        assert response.status_code == 422, bad
    for _ in range(2):
        gone = await client.delete(media(user, "watchlist/tt02"), headers=me)
        assert gone.status_code == 204
    after = (await client.get(media(user, "watchlist"), headers=me)).json()
    assert [item["video_id"] for item in after["items"]] == ["tt03", "tt01"]
    events = [row.payload for row in await outbox_rows(app.state.db)]
    watch = [e["data"] for e in events if e["type"] == "profilestore.media.WatchlistUpdated"]
    assert [(e["action"], e["video_id"]) for e in watch] == [
        ("added", "tt01"),
        ("added", "tt02"),
        ("added", "tt03"),
        ("removed", "tt02"),
    ]
    assert all("note" not in e for e in watch)


async def test_watchlist_pages_without_gaps_or_repeats(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    me = bearer(user)
    videos = [f"video.{i:03d}" for i in range(45)]
    for video in videos:
        await client.post(media(user, "watchlist"), json={"video_id": video}, headers=me)
    for limit in (1, 7, 20, 100):
        seen: list[str] = []
        cursor = None
        while True:
            query = f"watchlist?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(media(user, query), headers=me)).json()
            seen += [item["video_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(videos)), limit
    for bad in ("short", "!" * 30, "A" * 401, "WyJub3QgYSB0aW1lIiwiYSJd"):
        response = await client.get(media(user, f"watchlist?cursor={bad}"), headers=me)
        assert response.status_code == 422, bad


async def test_watchlist_is_bounded_per_account(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await make_user(client)
    kid = await add_viewer(client, user, "Kid")
    async with client_for(settings.model_copy(update={"media_watchlist_max": 3})) as small:
        for video, viewer in (("a", "default"), ("b", "default"), ("c", kid)):
            response = await small.post(
                media(user, f"watchlist?viewer={viewer}"),
                json={"video_id": video},
                headers=bearer(user),
            )
            assert response.status_code == 201
        full = await small.post(
            media(user, "watchlist"), json={"video_id": "d"}, headers=bearer(user)
        )
        assert full.status_code == 409 and full.json()["type"].endswith("watchlist-full")
        present = await small.post(
            media(user, "watchlist"), json={"video_id": "a"}, headers=bearer(user)
        )
        assert present.status_code == 200


async def test_watchlist_reads_see_every_write_at_once(client: httpx.AsyncClient) -> None:
    """The first page is cached; every add and remove drops it in the same request."""
    user = await make_user(client)
    me = bearer(user)
    expected: list[str] = []
    for step in range(12):
        video = f"v{step % 5}"
        if video in expected:
            await client.delete(media(user, f"watchlist/{video}"), headers=me)
            expected.remove(video)
        else:
            await client.post(media(user, "watchlist"), json={"video_id": video}, headers=me)
            expected.insert(0, video)
        page = (await client.get(media(user, "watchlist?limit=3"), headers=me)).json()
        assert [item["video_id"] for item in page["items"]] == expected[:3], step
        assert (page["next_cursor"] is not None) == (len(expected) > 3)


async def test_viewers_have_their_own_lists_and_deleting_one_removes_its_rows(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    me = bearer(user)
    kid = await add_viewer(client, user, "Kid")
    await client.post(media(user, "watchlist"), json={"video_id": "adult"}, headers=me)
    await client.post(
        media(user, f"watchlist?viewer={kid}"), json={"video_id": "cartoon"}, headers=me
    )
    await client.post(
        media(user, f"history?viewer={kid}"),
        json={"video_id": "cartoon", "position_seconds": 30, "duration_seconds": 600},
        headers=me,
    )
    kid_list = (await client.get(media(user, f"watchlist?viewer={kid}"), headers=me)).json()
    assert [item["video_id"] for item in kid_list["items"]] == ["cartoon"]
    deleted = await client.delete(media(user, f"viewers/{kid}"), headers=me)
    assert deleted.status_code == 204
    assert (await client.delete(media(user, f"viewers/{kid}"), headers=me)).status_code == 204
    gone = await client.get(media(user, f"watchlist?viewer={kid}"), headers=me)
    assert gone.status_code == 404
    own = (await client.get(media(user, "watchlist"), headers=me)).json()
    assert [item["video_id"] for item in own["items"]] == ["adult"]
    async with app.state.db.read_session() as session:
        rows = await session.execute(
            select(func.count()).select_from(WatchlistItem).where(WatchlistItem.viewer_id == kid)
        )
        assert rows.scalar_one() == 0


async def test_admins_and_services_may_act_others_may_not(client: httpx.AsyncClient) -> None:
    user, other = await make_user(client), await make_user(client)
    for headers in (ADMIN, SERVICE):
        response = await client.post(
            media(user, "watchlist"), json={"video_id": "x"}, headers=headers
        )
        assert response.status_code in (200, 201)
    stranger = await client.post(
        media(user, "watchlist"), json={"video_id": "y"}, headers=bearer(other)
    )
    assert stranger.status_code == 404
    peek = await client.get(media(user, "watchlist"), headers=bearer(other))
    assert peek.status_code == 404
    page = (await client.get(media(user, "watchlist"), headers=bearer(user))).json()
    assert [item["video_id"] for item in page["items"]] == ["x"]


async def test_viewer_changes_that_change_nothing_and_names_in_any_case(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    me = bearer(user)
    emile = await add_viewer(client, user, "Émile")
    clash = await client.post(media(user, "viewers"), json={"name": "éMILE"}, headers=me)
    assert clash.status_code == 409  # case-insensitive beyond ASCII, on both databases
    same = await client.patch(
        media(user, f"viewers/{emile}"), json={"name": "Émile"}, headers={**me, **MERGE}
    )
    assert same.status_code == 200 and same.json()["version"] == 1
    changed = [
        r.payload["data"]["action"]
        for r in await outbox_rows(app.state.db)
        if r.payload["type"] == "profilestore.media.ViewerChanged"
    ]
    assert changed == ["created"]
    missing = await client.delete(
        media(user, "viewers/nosuchviewer"), headers={**me, "If-Match": '"1"'}
    )
    assert missing.status_code == 412
    assert (await client.delete(media(user, "viewers/nosuchviewer"), headers=me)).status_code == 204
