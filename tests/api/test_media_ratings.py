"""Ratings and reviews of the media domain: create/replace/delete with ETags, the POST alias,
a viewer's list, a video's aggregate and its reviews, refusals that change nothing, and a
property test that the incrementally kept aggregates always equal a recount of the ratings."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from profilestore.domains.media.models import Rating, VideoRatings
from profilestore.platform.pagination import encode_position
from profilestore.settings import Settings
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer, client_for

VIDEO_RATED = "profilestore.media.VideoRated"
STARS = ("1", "2", "3", "4", "5")
PROBLEM = "application/problem+json"


# --- helpers -------------------------------------------------------------------------------


async def make_user(client: httpx.AsyncClient, **fields: Any) -> uuid.UUID:
    """A user with a profile; private fields (timezone, locale) set so leaks show."""
    user = uuid.uuid4()
    body = {
        "username": f"r{user.hex[:12]}",
        "timezone": "Pacific/Chatham",
        "locale": "de-AT",
        **fields,
    }
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201, response.text
    return user


async def add_viewer(client: httpx.AsyncClient, user: uuid.UUID, name: str = "Kid") -> str:
    response = await client.post(
        f"/v1/profiles/{user}/viewers", json={"name": name}, headers=bearer(user)
    )
    assert response.status_code == 201, response.text
    viewer_id: str = response.json()["viewer_id"]
    return viewer_id


def new_video() -> str:
    return f"tt{uuid.uuid4().hex[:10]}"


def rating_url(user: uuid.UUID, video: str, viewer: str | None = None) -> str:
    url = f"/v1/profiles/{user}/ratings/{video}"
    return f"{url}?viewer={viewer}" if viewer else url


def list_url(user: uuid.UUID, viewer: str | None = None) -> str:
    url = f"/v1/profiles/{user}/ratings"
    return f"{url}?viewer={viewer}" if viewer else url


async def rate(
    client: httpx.AsyncClient,
    user: uuid.UUID,
    video: str,
    stars: int,
    *,
    viewer: str | None = None,
    expect: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    response = await client.put(
        rating_url(user, video, viewer), json={"stars": stars, **fields}, headers=bearer(user)
    )
    assert response.status_code in ((expect,) if expect else (200, 201)), response.text
    body: dict[str, Any] = response.json()
    return body


async def aggregate(
    client: httpx.AsyncClient, video: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(f"/v1/videos/{video}/ratings", headers=headers or SERVICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def expected_summary(video: str, stars: list[int]) -> dict[str, Any]:
    """The aggregate as a recount of ``stars`` gives it (the average is checked apart)."""
    return {
        "video_id": video,
        "count": len(stars),
        "distribution": {key: stars.count(int(key)) for key in STARS},
    }


def check_summary(answer: dict[str, Any], video: str, stars: list[int]) -> None:
    average = answer.pop("average")
    assert answer == expected_summary(video, stars), (answer, sorted(stars))
    if not stars:
        assert average is None
    else:
        exact = sum(stars) / len(stars)
        assert isinstance(average, float | int) and round(average, 2) == average, average
        assert abs(average - exact) <= 0.005 + 1e-9, (average, exact)


async def stored_stars(app: FastAPI, videos: list[str]) -> dict[str, list[int]]:
    """The stars of every rating row of ``videos``, straight from the database."""
    found: dict[str, list[int]] = {video: [] for video in videos}
    async with app.state.db.read_session() as session:
        statement = select(Rating.video_id, Rating.stars).where(Rating.video_id.in_(videos))
        for video, stars in await session.execute(statement):
            found[video].append(stars)
    return found


async def aggregate_rows(app: FastAPI, videos: list[str]) -> dict[str, tuple[int, ...]]:
    async with app.state.db.read_session() as session:
        statement = select(VideoRatings).where(VideoRatings.video_id.in_(videos))
        return {
            row.video_id: (
                row.count,
                row.stars_total,
                *(getattr(row, f"stars_{n}") for n in range(1, 6)),
            )
            for row in (await session.execute(statement)).scalars()
        }


async def media_state(app: FastAPI) -> tuple[Any, ...]:
    """Every rating, every aggregate and the outbox length: a refusal must leave them all."""
    async with app.state.db.read_session() as session:
        ratings = sorted(
            (str(r.user_id), r.viewer_id, r.video_id, r.stars, r.review, r.spoiler, r.version)
            for r in (await session.execute(select(Rating))).scalars()
        )
        aggregates = sorted(
            (row.video_id, row.count, row.stars_total)
            for row in (await session.execute(select(VideoRatings))).scalars()
        )
    return ratings, aggregates, len(await outbox_rows(app.state.db))


async def rated_events(app: FastAPI) -> list[dict[str, Any]]:
    return [row.payload for row in await outbox_rows(app.state.db) if row.type == VIDEO_RATED]


async def all_pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


async def set_updated_at(app: FastAPI, video: str, when: dt.datetime) -> None:
    """Give every rating of ``video`` the same instant (ties the newest-first order)."""
    async with app.state.db.write_session() as session:
        await session.execute(
            update(Rating).where(Rating.video_id == video).values(updated_at=when)
        )
        await session.commit()


# --- one rating ----------------------------------------------------------------------------


async def test_rating_lifecycle_with_etags(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    video = new_video()
    me = bearer(user)
    url = rating_url(user, video)

    created = await client.put(url, json={"stars": 4, "review": "  Good.  "}, headers=me)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"] == '"1"'
    assert body["user_id"] == str(user) and body["viewer_id"] == "default"
    assert body["video_id"] == video and body["stars"] == 4 and body["version"] == 1
    assert body["review"] == "Good." and body["spoiler"] is False
    check_summary(await aggregate(client, video), video, [4])

    replaced = await client.put(url, json={"stars": 2, "spoiler": True}, headers=me)
    assert replaced.status_code == 200 and replaced.headers["etag"] == '"2"'
    assert replaced.json()["review"] is None  # PUT replaces the whole rating
    assert replaced.json()["spoiler"] is True and replaced.json()["version"] == 2
    assert replaced.json()["created_at"] == body["created_at"]
    check_summary(await aggregate(client, video), video, [2])

    read = await client.get(url, headers=me)
    assert read.status_code == 200 and read.headers["etag"] == '"2"'
    assert read.json() == replaced.json()
    for tag in ('"2"', 'W/"2"', '"1", "2"', "*"):
        cached = await client.get(url, headers={**me, "If-None-Match": tag})
        assert cached.status_code == 304 and cached.headers["etag"] == '"2"', tag
        assert cached.content == b""
    changed_since = await client.get(url, headers={**me, "If-None-Match": '"1"'})
    assert changed_since.status_code == 200 and changed_since.json()["stars"] == 2

    stale = await client.put(url, json={"stars": 5}, headers={**me, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    assert (await client.get(url, headers=me)).json()["stars"] == 2
    current = await client.put(url, json={"stars": 5}, headers={**me, "If-Match": '"2"'})
    assert current.status_code == 200 and current.json()["version"] == 3
    anything = await client.put(url, json={"stars": 3}, headers={**me, "If-Match": "*"})
    assert anything.status_code == 200 and anything.json()["version"] == 4
    check_summary(await aggregate(client, video), video, [3])

    stale_delete = await client.delete(url, headers={**me, "If-Match": '"3"'})
    assert stale_delete.status_code == 412
    assert (await client.get(url, headers=me)).status_code == 200
    deleted = await client.delete(url, headers={**me, "If-Match": '"4"'})
    assert deleted.status_code == 204 and deleted.content == b""
    check_summary(await aggregate(client, video), video, [])
    again = await client.delete(url, headers=me)
    assert again.status_code == 204  # idempotent
    check_summary(await aggregate(client, video), video, [])
    gone = await client.get(url, headers=me)
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM
    assert (await client.get(url, headers={**me, "If-None-Match": "*"})).status_code == 404

    for tag in ('"4"', "*"):  # If-Match names a version; nothing is there: 412, nothing made
        absent = await client.put(url, json={"stars": 1}, headers={**me, "If-Match": tag})
        assert absent.status_code == 412, tag
        absent_delete = await client.delete(url, headers={**me, "If-Match": tag})
        assert absent_delete.status_code == 412, tag
    assert (await client.get(url, headers=me)).status_code == 404
    check_summary(await aggregate(client, video), video, [])

    recreated = await client.put(url, json={"stars": 1}, headers=me)
    assert recreated.status_code == 201 and recreated.json()["version"] == 1
    check_summary(await aggregate(client, video), video, [1])


async def test_post_names_the_video_in_the_body(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    video = new_video()
    me = bearer(user)
    posted = await client.post(
        list_url(user), json={"video_id": video, "stars": 5, "review": "Loved it"}, headers=me
    )
    assert posted.status_code == 201, posted.text
    assert posted.headers["etag"] == '"1"'
    assert posted.json()["video_id"] == video and posted.json()["stars"] == 5
    read = await client.get(rating_url(user, video), headers=me)
    assert read.json() == posted.json()

    again = await client.post(list_url(user), json={"video_id": video, "stars": 3}, headers=me)
    assert again.status_code == 200 and again.json()["version"] == 2
    assert again.json()["review"] is None
    stale = await client.post(
        list_url(user), json={"video_id": video, "stars": 1}, headers={**me, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    fresh = await client.post(
        list_url(user),
        json={"video_id": new_video(), "stars": 1},
        headers={**me, "If-Match": '"1"'},
    )
    assert fresh.status_code == 412  # If-Match on a rating that does not exist
    via_put = await client.put(rating_url(user, video), json={"stars": 4}, headers=me)
    assert via_put.status_code == 200 and via_put.json()["version"] == 3
    check_summary(await aggregate(client, video), video, [4])
    assert [e["data"]["action"] for e in await rated_events(app)] == ["rated", "changed", "changed"]


async def test_video_rated_events(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    kid = await add_viewer(client, user)
    video = new_video()
    secret = "The butler did it, in the library"
    await rate(client, user, video, 3, review=secret, expect=201)
    await rate(client, user, video, 5, review=secret + " again", spoiler=True, expect=200)
    await rate(client, user, video, 5, expect=200)  # same stars: still a change (the review)
    await rate(client, user, video, 2, viewer=kid, review=secret, expect=201)
    assert (await client.delete(rating_url(user, video), headers=bearer(user))).status_code == 204
    assert (await client.delete(rating_url(user, video), headers=bearer(user))).status_code == 204

    rows = [row for row in await outbox_rows(app.state.db) if row.type == VIDEO_RATED]
    data = [row.payload["data"] for row in rows]
    assert [(d["action"], d["stars"], d["previous_stars"], d["viewer_id"]) for d in data] == [
        ("rated", 3, None, "default"),
        ("changed", 5, 3, "default"),
        ("changed", 5, 5, "default"),
        ("rated", 2, None, kid),
        ("removed", None, 5, "default"),
    ]  # the second delete found nothing: no event
    for row, item in zip(rows, data, strict=True):
        assert item["video_id"] == video and item["user_id"] == str(user)
        assert row.aggregateid == str(user) and row.payload["subject"] == str(user)
        assert "review" not in item and "spoiler" not in item
        assert "butler" not in json.dumps(row.payload)


# --- refusals ------------------------------------------------------------------------------

BAD_BODIES: list[dict[str, Any]] = [
    {"stars": 0},
    {"stars": 6},
    {"stars": -1},
    {"stars": "5"},
    {"stars": True},
    {"stars": 4.5},
    {"stars": 4.0},
    {"stars": None},
    {},
    {"review": "no stars"},
    {"stars": 3, "review": "x" * 5001},
    {"stars": 3, "review": 5},
    {"stars": 3, "review": "bad\x00byte"},
    {"stars": 3, "spoiler": "yes"},
    {"stars": 3, "spoiler": 1},
    {"stars": 3, "rating": 4},
    {"stars": 3, "version": 7},
    {"stars": 3, "user_id": str(uuid.uuid4())},
]


async def test_invalid_writes_are_refused_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    video = new_video()
    me = bearer(user)
    await rate(client, user, video, 4, review="kept", expect=201)
    before = await media_state(app)

    for body in BAD_BODIES:
        put = await client.put(rating_url(user, video), json=body, headers=me)
        assert put.status_code == 422, (body, put.status_code, put.text)
        assert put.headers["content-type"] == PROBLEM and put.json()["errors"], body
        fresh = await client.put(rating_url(user, new_video()), json=body, headers=me)
        assert fresh.status_code == 422, (body, fresh.text)
        posted = await client.post(list_url(user), json={**body, "video_id": video}, headers=me)
        assert posted.status_code == 422, (body, posted.text)

    for bad_id in ("a b", "a/b", "x" * 129, "", "é", "a?b", 5, None):
        posted = await client.post(
            list_url(user), json={"video_id": bad_id, "stars": 3}, headers=me
        )
        assert posted.status_code == 422, (bad_id, posted.text)
    no_video = await client.post(list_url(user), json={"stars": 3}, headers=me)
    assert no_video.status_code == 422

    for path_id in ("a%20b", "x" * 129, "a%2Cb", "%C3%A9"):
        put = await client.put(rating_url(user, path_id), json={"stars": 3}, headers=me)
        assert put.status_code == 422, (path_id, put.text)
        for method in ("GET", "DELETE"):
            answer = await client.request(method, rating_url(user, path_id), headers=me)
            assert answer.status_code == 422, (method, path_id)
        summary = await client.get(f"/v1/videos/{path_id}/ratings", headers=me)
        assert summary.status_code == 422, path_id
        reviews = await client.get(f"/v1/videos/{path_id}/reviews", headers=me)
        assert reviews.status_code == 422, path_id
    slashed = await client.put(rating_url(user, "a%2Fb"), json={"stars": 3}, headers=me)
    assert 400 <= slashed.status_code < 500

    not_json = await client.put(
        rating_url(user, video), content=b"stars=5", headers={**me, "Content-Type": "text/plain"}
    )
    assert 400 <= not_json.status_code < 500
    broken = await client.put(
        rating_url(user, video),
        content=b'{"stars": 5',
        headers={**me, "Content-Type": "application/json"},
    )
    assert broken.status_code in (400, 422) and broken.headers["content-type"] == PROBLEM

    assert await media_state(app) == before
    longest = await rate(client, user, "x" * 128, 5, review="y" * 5000, expect=201)
    assert longest["video_id"] == "x" * 128 and len(longest["review"]) == 5000
    assert (await rate(client, user, "A.b_c:d-9", 1, expect=201))["video_id"] == "A.b_c:d-9"


async def test_only_the_owner_admins_and_services_reach_ratings(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, other = await make_user(client), await make_user(client)
    video = new_video()
    await rate(client, owner, video, 4, review="mine", expect=201)
    before = await media_state(app)
    them = bearer(other)

    attempts = [
        ("PUT", rating_url(owner, video), {"stars": 1}),
        ("PUT", rating_url(owner, new_video()), {"stars": 1}),
        ("POST", list_url(owner), {"video_id": video, "stars": 1}),
        ("GET", rating_url(owner, video), None),
        ("DELETE", rating_url(owner, video), None),
        ("GET", list_url(owner), None),
    ]
    for method, url, body in attempts:
        answer = await client.request(method, url, json=body, headers=them)
        assert answer.status_code == 404, (method, url, answer.status_code)
        assert "mine" not in answer.text
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
    assert await media_state(app) == before

    by_admin = await client.put(rating_url(owner, video), json={"stars": 2}, headers=ADMIN)
    assert by_admin.status_code == 200 and by_admin.json()["stars"] == 2
    by_service = await client.put(rating_url(owner, video), json={"stars": 3}, headers=SERVICE)
    assert by_service.status_code == 200 and by_service.json()["version"] == 3
    new = new_video()
    made = await client.post(list_url(owner), json={"video_id": new, "stars": 5}, headers=ADMIN)
    assert made.status_code == 201
    for who in (ADMIN, SERVICE):
        listed = await client.get(list_url(owner), headers=who)
        assert {item["video_id"] for item in listed.json()["items"]} == {video, new}
    assert (await client.delete(rating_url(owner, new), headers=SERVICE)).status_code == 204
    check_summary(await aggregate(client, video), video, [3])
    check_summary(await aggregate(client, new), new, [])

    nobody = uuid.uuid4()  # signed in, but no profile
    for method, url, body in [
        ("PUT", rating_url(nobody, video), {"stars": 5}),
        ("GET", rating_url(nobody, video), None),
        ("DELETE", rating_url(nobody, video), None),
        ("GET", list_url(nobody), None),
    ]:
        answer = await client.request(method, url, json=body, headers=bearer(nobody))
        assert answer.status_code == 404, (method, answer.status_code)
    check_summary(await aggregate(client, video), video, [3])


async def test_if_match_required_by_the_deployment(settings: Settings) -> None:
    async with client_for(settings.model_copy(update={"require_if_match": True})) as client:
        user = await make_user(client)
        video = new_video()
        me = bearer(user)
        created = await client.put(rating_url(user, video), json={"stars": 2}, headers=me)
        assert created.status_code == 201  # creating needs no If-Match
        blind = await client.put(rating_url(user, video), json={"stars": 5}, headers=me)
        assert blind.status_code == 428
        blind_delete = await client.delete(rating_url(user, video), headers=me)
        assert blind_delete.status_code == 428
        check_summary(await aggregate(client, video), video, [2])
        tag = created.headers["etag"]
        changed = await client.put(
            rating_url(user, video), json={"stars": 5}, headers={**me, "If-Match": tag}
        )
        assert changed.status_code == 200
        check_summary(await aggregate(client, video), video, [5])
        absent = await client.delete(rating_url(user, new_video()), headers=me)
        assert absent.status_code == 204  # nothing there to overwrite blindly


# --- a viewer's list -----------------------------------------------------------------------


async def test_list_is_newest_first_and_pages_without_gaps(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    me = bearer(user)
    videos = [new_video() for _ in range(7)]
    for number, video in enumerate(videos):
        await rate(client, user, video, number % 5 + 1, expect=201)
    await rate(client, user, videos[2], 1, expect=200)  # a change moves it to the front
    expected = [videos[2], *reversed([v for v in videos if v != videos[2]])]

    pages = await all_pages(client, list_url(user), me, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [item["video_id"] for page in pages for item in page]
    assert listed == expected
    stamps = [item["updated_at"] for page in pages for item in page]
    assert stamps == sorted(stamps, reverse=True)
    whole = await client.get(list_url(user), params={"limit": 100}, headers=me)
    assert whole.json()["next_cursor"] is None and whole.json()["viewer_id"] == "default"
    assert [item["video_id"] for item in whole.json()["items"]] == expected
    assert whole.json()["items"][0]["stars"] == 1

    # Changes while paging: rows not touched are each seen once, none twice.
    first = await client.get(list_url(user), params={"limit": 3}, headers=me)
    seen = [item["video_id"] for item in first.json()["items"]]
    added = new_video()
    await rate(client, user, added, 5, expect=201)
    await rate(client, user, expected[5], 2, expect=200)  # moves from a later page to the front
    assert (await client.delete(rating_url(user, expected[4]), headers=me)).status_code == 204
    cursor = first.json()["next_cursor"]
    while cursor:
        page = await client.get(list_url(user), params={"limit": 3, "cursor": cursor}, headers=me)
        seen += [item["video_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert len(seen) == len(set(seen))
    untouched = [v for v in expected if v not in (expected[4], expected[5])]
    assert [v for v in seen if v in untouched] == untouched
    assert expected[4] not in seen and added not in seen

    for bad in ("not a cursor!", "short", "x" * 500):
        refused = await client.get(list_url(user), params={"cursor": bad}, headers=me)
        assert refused.status_code == 422, bad
    garbage = await client.get(list_url(user), params={"cursor": "QUFBQUFBQUFBQQ"}, headers=me)
    assert garbage.status_code == 422
    for limit in (0, 101, -1):
        refused = await client.get(list_url(user), params={"limit": limit}, headers=me)
        assert refused.status_code == 422, limit

    empty = await client.get(list_url(await make_user(client)), headers=ADMIN)
    assert empty.status_code == 200 and empty.json()["items"] == []
    assert empty.json()["next_cursor"] is None


async def test_list_pages_through_ratings_of_the_same_instant(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    videos = sorted(new_video() for _ in range(5))
    for video in videos:
        await rate(client, user, video, 3, expect=201)
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    for video in videos:
        await set_updated_at(app, video, when)
    for limit in (1, 2, 4):
        pages = await all_pages(client, list_url(user), bearer(user), limit=limit)
        listed = [item["video_id"] for page in pages for item in page]
        assert sorted(listed) == videos and len(listed) == len(videos), (limit, listed)


async def test_viewers_have_their_own_ratings(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    kid = await add_viewer(client, user, "Kid")
    teen = await add_viewer(client, user, "Teen")
    me = bearer(user)
    video, other_video = new_video(), new_video()
    await rate(client, user, video, 5, expect=201)
    await rate(client, user, video, 1, viewer=kid, review="boring", expect=201)
    await rate(client, user, other_video, 2, viewer=kid, expect=201)
    await rate(client, user, video, 3, viewer=teen, expect=201)
    check_summary(await aggregate(client, video), video, [5, 1, 3])
    check_summary(await aggregate(client, other_video), other_video, [2])

    own = await client.get(list_url(user), headers=me)
    assert [(i["video_id"], i["stars"]) for i in own.json()["items"]] == [(video, 5)]
    kids = await client.get(list_url(user, kid), headers=me)
    assert kids.json()["viewer_id"] == kid
    assert [(i["video_id"], i["stars"]) for i in kids.json()["items"]] == [
        (other_video, 2),
        (video, 1),
    ]
    assert all(item["viewer_id"] == kid for item in kids.json()["items"])
    one = await client.get(rating_url(user, video, kid), headers=me)
    assert one.json()["stars"] == 1 and one.json()["review"] == "boring"
    assert (await client.get(rating_url(user, other_video), headers=me)).status_code == 404

    other = await make_user(client)  # another account's viewer id is unknown there too
    before = await media_state(app)
    unknown = "0123456789abcdef"
    for method, url, body in [
        ("PUT", rating_url(user, video, unknown), {"stars": 2}),
        ("POST", f"{list_url(user)}?viewer={unknown}", {"video_id": video, "stars": 2}),
        ("GET", rating_url(user, video, unknown), None),
        ("DELETE", rating_url(user, video, unknown), None),
        ("GET", list_url(user, unknown), None),
    ]:
        answer = await client.request(method, url, json=body, headers=me)
        assert answer.status_code == 404, (method, url, answer.status_code)
    assert (await client.get(list_url(other, kid), headers=bearer(other))).status_code == 404
    bad = await client.get(list_url(user, "no good!"), headers=me)
    assert bad.status_code == 422
    assert await media_state(app) == before

    deleted = await client.delete(f"/v1/profiles/{user}/viewers/{kid}", headers=me)
    assert deleted.status_code == 204
    check_summary(await aggregate(client, video), video, [5, 3])
    check_summary(await aggregate(client, other_video), other_video, [])
    assert (await client.get(list_url(user, kid), headers=me)).status_code == 404
    assert len((await client.get(list_url(user, teen), headers=me)).json()["items"]) == 1
    assert len((await client.get(list_url(user), headers=me)).json()["items"]) == 1
    stored = await stored_stars(app, [video, other_video])
    assert sorted(stored[video]) == [3, 5] and stored[other_video] == []
    again = await client.put(rating_url(user, video, kid), json={"stars": 4}, headers=me)
    assert again.status_code == 404
    check_summary(await aggregate(client, video), video, [5, 3])


async def test_deleting_the_profile_removes_its_ratings(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    leaving, staying = await make_user(client), await make_user(client)
    kid = await add_viewer(client, leaving)
    video, other_video = new_video(), new_video()
    await rate(client, leaving, video, 1, review="meh", expect=201)
    await rate(client, leaving, video, 2, viewer=kid, expect=201)
    await rate(client, leaving, other_video, 5, viewer=kid, expect=201)
    await rate(client, staying, video, 4, review="nice", expect=201)
    check_summary(await aggregate(client, video), video, [1, 2, 4])

    deleted = await client.delete(f"/v1/profiles/{leaving}", headers=bearer(leaving))
    assert deleted.status_code == 204
    check_summary(await aggregate(client, video), video, [4])
    check_summary(await aggregate(client, other_video), other_video, [])
    stored = await stored_stars(app, [video, other_video])
    assert stored == {video: [4], other_video: []}
    reviews = await client.get(f"/v1/videos/{video}/reviews", headers=bearer(staying))
    assert [item["author"]["user_id"] for item in reviews.json()["items"]] == [str(staying)]

    back = await client.put(
        f"/v1/profiles/{leaving}", json={"username": f"b{leaving.hex[:8]}"}, headers=bearer(leaving)
    )
    assert back.status_code == 201
    listed = await client.get(list_url(leaving), headers=bearer(leaving))
    assert listed.json()["items"] == []
    await rate(client, leaving, video, 5, expect=201)
    check_summary(await aggregate(client, video), video, [4, 5])


# --- a video's aggregate -------------------------------------------------------------------


AVERAGES = [
    ([5, 4, 4], 4.33),
    ([5, 5, 4], 4.67),
    ([1, 2], 1.5),
    ([3], 3.0),
    ([1, 1, 1, 2, 5, 5], 2.5),
]


async def test_video_aggregate(client: httpx.AsyncClient) -> None:
    raters = [await make_user(client) for _ in range(6)]
    caller = bearer(uuid.uuid4())  # any signed-in caller, even one without a profile
    for stars, average in AVERAGES:
        video = new_video()
        for user, given_stars in zip(raters, stars, strict=False):
            await rate(client, user, video, given_stars, expect=201)
        answer = await client.get(f"/v1/videos/{video}/ratings", headers=caller)
        assert answer.status_code == 200
        body = answer.json()
        assert body["average"] == average, stars
        assert list(body["distribution"]) == list(STARS)
        check_summary(body, video, stars)
    assert (await client.get(f"/v1/videos/{video}/ratings")).status_code == 401
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert (await client.get(f"/v1/videos/{video}/ratings", headers=bad_token)).status_code == 401


async def test_unrated_video_has_an_empty_aggregate(client: httpx.AsyncClient) -> None:
    video = new_video()
    body = await aggregate(client, video, bearer(uuid.uuid4()))
    assert body == {
        "video_id": video,
        "count": 0,
        "average": None,
        "distribution": dict.fromkeys(STARS, 0),
    }
    user = await make_user(client)
    await rate(client, user, video, 2, expect=201)
    assert (await client.delete(rating_url(user, video), headers=bearer(user))).status_code == 204
    assert await aggregate(client, video) == body


async def test_concurrent_writes_keep_the_aggregate(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    videos = [new_video(), new_video()]
    users = [await make_user(client) for _ in range(6)]

    async def work(number: int, user: uuid.UUID) -> None:
        for step in range(4):
            video = videos[(number + step) % 2]
            if step == 2 and number % 2:
                answer = await client.delete(rating_url(user, video), headers=bearer(user))
                assert answer.status_code == 204
            else:
                await rate(client, user, video, (number + step) % 5 + 1)

    await asyncio.gather(*(work(n, u) for n, u in enumerate(users)))
    stored = await stored_stars(app, videos)
    for video in videos:
        check_summary(await aggregate(client, video), video, stored[video])


# --- reviews -------------------------------------------------------------------------------


async def test_reviews_of_a_video(client: httpx.AsyncClient, app: FastAPI) -> None:
    video = new_video()
    alice = await make_user(client, display_name="Alice", bio="Film buff")
    bob, carol, dave = await make_user(client), await make_user(client), await make_user(client)
    kid = await add_viewer(client, bob, "Secret Kid Name")
    await rate(client, alice, video, 5, review="A masterpiece", expect=201)
    await rate(client, bob, video, 2, expect=201)  # no review: not listed
    await rate(client, bob, video, 4, viewer=kid, review="Fun", spoiler=True, expect=201)
    await rate(client, carol, video, 1, review="Dull", expect=201)
    await rate(client, dave, new_video(), 3, review="Another video", expect=201)

    answer = await client.get(f"/v1/videos/{video}/reviews", headers=bearer(dave))
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [(i["review"], i["stars"]) for i in items] == [
        ("Dull", 1),
        ("Fun", 4),
        ("A masterpiece", 5),
    ]
    assert answer.json()["next_cursor"] is None
    assert [i["spoiler"] for i in items] == [False, True, False]
    for item in items:
        fields = {"video_id", "stars", "review", "spoiler", "updated_at", "author_id", "author"}
        assert set(item) == fields
        public = {"user_id", "username", "display_name", "avatar_url", "bio", "private_account"}
        assert set(item["author"]) == public | {"fields"}
        assert item["author_id"] == item["author"]["user_id"]
        assert item["video_id"] == video
    assert items[2]["author"] == {
        "user_id": str(alice),
        "username": f"r{alice.hex[:12]}",
        "display_name": "Alice",
        "avatar_url": None,
        "bio": "Film buff",
        "private_account": False,
        "fields": {},
    }
    assert items[1]["author"]["user_id"] == str(bob)
    for private in ("Pacific/Chatham", "de-AT", kid, "Secret Kid Name", "viewer_id", "version"):
        assert private not in answer.text, private

    # A changed review moves to the front; a rating whose review is dropped leaves the list.
    await rate(client, alice, video, 4, review="Still great", expect=200)
    await rate(client, carol, video, 1, expect=200)
    again = await client.get(f"/v1/videos/{video}/reviews", headers=SERVICE)
    assert [i["review"] for i in again.json()["items"]] == ["Still great", "Fun"]
    assert (await client.get(f"/v1/videos/{video}/reviews")).status_code == 401
    nothing = await client.get(f"/v1/videos/{new_video()}/reviews", headers=ADMIN)
    assert nothing.json() == {"items": [], "next_cursor": None}


async def test_a_blank_review_is_no_review(client: httpx.AsyncClient) -> None:
    video = new_video()
    users = [await make_user(client) for _ in range(3)]
    for user, text in zip(users, ("", "  \n\t ", " Fine "), strict=True):
        body = await rate(client, user, video, 4, review=text, expect=201)
        assert body["review"] == (text.strip() or None), text
    listed = await client.get(f"/v1/videos/{video}/reviews", headers=SERVICE)
    assert [item["review"] for item in listed.json()["items"]] == ["Fine"]
    check_summary(await aggregate(client, video), video, [4, 4, 4])


async def test_reviews_leave_out_authors_who_block_the_caller(client: httpx.AsyncClient) -> None:
    video = new_video()
    blocker, reader, bystander = [await make_user(client) for _ in range(3)]
    await rate(client, blocker, video, 5, review="From the blocker", expect=201)
    await rate(client, bystander, video, 3, review="From the bystander", expect=201)
    blocked = await client.put(
        f"/v1/profiles/{blocker}/blocks/{reader}", json={}, headers=bearer(blocker)
    )
    assert blocked.status_code in (200, 201), blocked.text

    for limit in (1, 20):
        pages = await all_pages(client, f"/v1/videos/{video}/reviews", bearer(reader), limit)
        texts = [item["review"] for page in pages for item in page]
        assert texts == ["From the bystander"], limit
        assert all(str(blocker) not in json.dumps(page) for page in pages)
    seen_by_others = await client.get(f"/v1/videos/{video}/reviews", headers=bearer(bystander))
    assert [i["review"] for i in seen_by_others.json()["items"]] == [
        "From the bystander",
        "From the blocker",
    ]
    # The aggregate is not per-caller: it still counts the blocker's rating.
    check_summary(await aggregate(client, video, bearer(reader)), video, [5, 3])

    unblocked = await client.delete(
        f"/v1/profiles/{blocker}/blocks/{reader}", headers=bearer(blocker)
    )
    assert unblocked.status_code == 204
    after = await client.get(f"/v1/videos/{video}/reviews", headers=bearer(reader))
    assert len(after.json()["items"]) == 2


async def test_reviews_page_newest_first_without_gaps(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    video = new_video()
    authors = [await make_user(client) for _ in range(5)]
    for number, author in enumerate(authors):
        await rate(client, author, video, number + 1, review=f"review {number}", expect=201)
    kid = await add_viewer(client, authors[0])
    await rate(client, authors[0], video, 2, viewer=kid, review="kid review", expect=201)
    expected = ["kid review", *(f"review {n}" for n in reversed(range(5)))]
    reader = bearer(uuid.uuid4())
    for limit in (1, 2, 4, 6):
        pages = await all_pages(client, f"/v1/videos/{video}/reviews", reader, limit)
        texts = [item["review"] for page in pages for item in page]
        assert texts == expected, limit

    # Reviews written at the same instant (the same account's two viewers, too) all appear.
    await set_updated_at(app, video, dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC))
    for limit in (1, 2, 4):
        pages = await all_pages(client, f"/v1/videos/{video}/reviews", reader, limit)
        texts = [item["review"] for page in pages for item in page]
        assert sorted(texts) == sorted(expected), (limit, texts)
    author = authors[0]
    for tie in ("x" * 20, str(author), f"{author}:0", f"{author}:x", f"{author}:5000", "a:1"):
        cursor = encode_position(dt.datetime(2024, 5, 1, tzinfo=dt.UTC), tie)
        bad = await client.get(
            f"/v1/videos/{video}/reviews", params={"cursor": cursor}, headers=reader
        )
        assert bad.status_code == 422, tie
    for cursor in ("x" * 20, "not a cursor!"):
        bad = await client.get(
            f"/v1/videos/{video}/reviews", params={"cursor": cursor}, headers=reader
        )
        assert bad.status_code == 422, cursor


# --- the property: aggregates always equal a recount -----------------------------------------

USERS = 2
VIDEOS = 3
SLOTS = ("default", "viewer")

put_op = st.tuples(
    st.just("put"),
    st.integers(0, USERS - 1),
    st.sampled_from(SLOTS),
    st.integers(0, VIDEOS - 1),
    st.integers(1, 5),
    st.sampled_from(["owner", "owner", "admin", "service", "post"]),
)
delete_op = st.tuples(
    st.just("delete"),
    st.integers(0, USERS - 1),
    st.sampled_from(SLOTS),
    st.integers(0, VIDEOS - 1),
)
account_op = st.tuples(
    st.sampled_from(["delete_viewer", "delete_profile", "restore"]), st.integers(0, USERS - 1)
)
# Rating writes are the most frequent; deletions of viewers and profiles come now and then.
operations = st.lists(
    st.one_of(put_op, put_op, put_op, delete_op, account_op), min_size=1, max_size=14
)


class Model:
    """What the ratings should be: the users' profiles, viewers and ratings."""

    def __init__(self, users: list[uuid.UUID], viewers: list[str]) -> None:
        self.users = users
        self.has_profile = [True] * len(users)
        self.viewers: list[str | None] = list(viewers)
        self.ratings: dict[tuple[int, str, int], int] = {}

    def viewer_id(self, user: int, slot: str) -> str | None:
        return "default" if slot == "default" else self.viewers[user]

    def reachable(self, user: int, slot: str) -> bool:
        return self.has_profile[user] and self.viewer_id(user, slot) is not None

    def drop(self, user: int, viewer: str | None) -> None:
        for key in [k for k in self.ratings if k[0] == user and viewer in (None, k[1])]:
            del self.ratings[key]

    def stars_of(self, video: int) -> list[int]:
        return [stars for (_, _, v), stars in self.ratings.items() if v == video]


async def apply(
    client: httpx.AsyncClient, model: Model, videos: list[str], op: tuple[Any, ...]
) -> None:
    kind, user_index = op[0], op[1]
    user = model.users[user_index]
    me = bearer(user)
    if kind in ("put", "delete"):
        slot, video_index = op[2], op[3]
        viewer = model.viewer_id(user_index, slot)
        # a deleted viewer's id (or a made-up one) must be refused: 404
        viewer_param = viewer or "0000000000000000"
        url = rating_url(user, videos[video_index], viewer_param)
        reachable = model.reachable(user_index, slot)
        key = (user_index, viewer_param, video_index)
        if kind == "put":
            stars, how = op[4], op[5]
            if how == "post":
                body = {"video_id": videos[video_index], "stars": stars}
                answer = await client.post(
                    f"{list_url(user)}?viewer={viewer_param}", json=body, headers=me
                )
            else:
                who = {"owner": me, "admin": ADMIN, "service": SERVICE}[how]
                answer = await client.put(url, json={"stars": stars}, headers=who)
            if not reachable:
                assert answer.status_code == 404, (op, answer.text)
                return
            assert answer.status_code == (200 if key in model.ratings else 201), (op, answer.text)
            assert answer.json()["stars"] == stars
            model.ratings[key] = stars
        else:
            answer = await client.delete(url, headers=me)
            assert answer.status_code == (204 if reachable else 404), (op, answer.text)
            model.ratings.pop(key, None)
    elif kind == "delete_viewer":
        viewer = model.viewers[user_index]
        if viewer is None or not model.has_profile[user_index]:
            return
        answer = await client.delete(f"/v1/profiles/{user}/viewers/{viewer}", headers=me)
        assert answer.status_code == 204, answer.text
        model.drop(user_index, viewer)
        model.viewers[user_index] = None
    elif kind == "delete_profile":
        answer = await client.delete(f"/v1/profiles/{user}", headers=me)
        assert answer.status_code == 204, op  # idempotent: also when already gone
        model.drop(user_index, None)
        model.has_profile[user_index] = False
        model.viewers[user_index] = None
    elif kind == "restore":
        if not model.has_profile[user_index]:
            answer = await client.put(
                f"/v1/profiles/{user}", json={"username": f"r{user.hex[:12]}"}, headers=me
            )
            assert answer.status_code == 201, answer.text
            model.has_profile[user_index] = True
        if model.viewers[user_index] is None:
            model.viewers[user_index] = await add_viewer(client, user)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
@given(ops=operations)
async def test_aggregates_always_equal_a_recount(
    client: httpx.AsyncClient, app: FastAPI, ops: list[tuple[Any, ...]]
) -> None:
    # Fresh users and videos for every example: earlier examples' rows cannot interfere.
    users = [await make_user(client) for _ in range(USERS)]
    viewers = [await add_viewer(client, user) for user in users]
    videos = [new_video() for _ in range(VIDEOS)]
    model = Model(users, viewers)

    for op in ops:
        await apply(client, model, videos, op)

    stored = await stored_stars(app, videos)
    rows = await aggregate_rows(app, videos)
    caller = bearer(uuid.uuid4())
    for index, video in enumerate(videos):
        expected = model.stars_of(index)
        assert sorted(stored[video]) == sorted(expected), (video, ops)
        check_summary(await aggregate(client, video, caller), video, expected)
        if video in rows:  # the stored aggregate row itself, total included
            count, total, *by_stars = rows[video]
            assert (count, total) == (len(expected), sum(expected)), ops
            assert by_stars == [expected.count(n) for n in range(1, 6)], ops
        else:
            assert expected == [], ops

    # Read every remaining rating back through the API, as an admin.
    for index, user in enumerate(users):
        if not model.has_profile[index]:
            listed = await client.get(list_url(user), headers=ADMIN)
            assert listed.status_code == 404
            continue
        for slot in SLOTS:
            viewer = model.viewer_id(index, slot)
            if viewer is None:
                continue
            listed = await client.get(
                list_url(user), params={"viewer": viewer, "limit": 100}, headers=ADMIN
            )
            assert listed.status_code == 200, listed.text
            got = {(item["video_id"], item["stars"]) for item in listed.json()["items"]}
            want = {
                (videos[v], stars)
                for (u, vid, v), stars in model.ratings.items()
                if u == index and vid == viewer
            }
            assert got == want, ops


async def test_the_aggregate_is_kept_not_recounted(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Reads serve the kept aggregate row (no scan of ratings), so the recount comparisons
    above do catch an aggregate that drifted from its ratings."""
    user = await make_user(client)
    video = new_video()
    await rate(client, user, video, 4, expect=201)
    async with app.state.db.write_session() as session:
        await session.execute(
            update(VideoRatings)
            .where(VideoRatings.video_id == video)
            .values(
                count=VideoRatings.count + 1,
                stars_total=VideoRatings.stars_total + 5,
                stars_5=VideoRatings.stars_5 + 1,
            )
        )
        await session.commit()
    drifted = await aggregate(client, video)
    assert drifted["count"] == 2 and drifted["average"] == 4.5
    with pytest.raises(AssertionError):
        check_summary(drifted, video, [4])
    async with app.state.db.read_session() as session:
        total = (await session.execute(select(func.count()).select_from(Rating))).scalar_one()
    assert total == 1


async def test_a_rating_that_changes_nothing_is_not_a_new_version(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, video = await make_user(client), new_video()
    first = await rate(client, user, video, 4, review="Fine", expect=201)
    again = await rate(client, user, video, 4, review="Fine", expect=200)
    assert again == first and len(await rated_events(app)) == 1
    changed = await rate(client, user, video, 4, review="Fine", spoiler=True, expect=200)
    assert changed["version"] == 2 and len(await rated_events(app)) == 2


async def test_ratings_removed_with_their_viewer_are_events(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, first, second = await make_user(client), new_video(), new_video()
    kid = await add_viewer(client, user)
    await rate(client, user, first, 2, viewer=kid)
    await rate(client, user, second, 5, viewer=kid)
    await rate(client, user, first, 3)
    deleted = await client.delete(f"/v1/profiles/{user}/viewers/{kid}", headers=bearer(user))
    assert deleted.status_code == 204
    removed = [e["data"] for e in await rated_events(app) if e["data"]["action"] == "removed"]
    assert sorted((e["video_id"], e["previous_stars"], e["viewer_id"]) for e in removed) == sorted(
        [(first, 2, kid), (second, 5, kid)]
    )
    assert all(e["stars"] is None for e in removed)
