"""Viewing history, resume points and continue watching: beats, windows, retries, order,
completion, dismissal, events, validation and the rate limit a player meets."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from profilestore.settings import Settings
from tests.api.test_media_viewers import media
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import bearer, client_for

T0 = dt.datetime(2026, 11, 1, 20, 0, tzinfo=dt.UTC)


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


async def beat(
    client: httpx.AsyncClient,
    user: uuid.UUID,
    video: str,
    position: float,
    duration: float = 1000.0,
    *,
    minutes: float | None = None,
    viewer: str = "default",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "video_id": video,
        "position_seconds": position,
        "duration_seconds": duration,
        **extra,
    }
    if minutes is not None:
        body["watched_at"] = at(minutes)
    return await client.post(
        media(user, f"history?viewer={viewer}"), json=body, headers=headers or bearer(user)
    )


async def history_of(client: httpx.AsyncClient, user: uuid.UUID, query: str = "") -> list[Any]:
    page = await client.get(media(user, f"history?limit=100{query}"), headers=bearer(user))
    assert page.status_code == 200, page.text
    items: list[Any] = page.json()["items"]
    return items


async def continuing(client: httpx.AsyncClient, user: uuid.UUID) -> list[str]:
    page = await client.get(media(user, "continue-watching"), headers=bearer(user))
    return [item["video_id"] for item in page.json()["items"]]


async def media_events(app: FastAPI) -> list[dict[str, Any]]:
    rows = await outbox_rows(app.state.db)
    return [
        r.payload["data"] for r in rows if r.payload["type"] == "profilestore.media.HistoryUpdated"
    ]


async def test_beats_update_one_entry_per_window(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    first = await beat(client, user, "film", 10, minutes=0, device="tv")
    assert first.status_code == 200 and first.json()["applied"]
    entry = first.json()["entry_id"]
    for minute, position in ((2, 130), (9.9, 600)):
        later = await beat(client, user, "film", position, minutes=minute)
        assert later.json()["entry_id"] == entry and later.json()["position_seconds"] == position
    (only,) = await history_of(client, user)
    assert only["entry_id"] == entry and only["position_seconds"] == 600
    assert only["started_at"].startswith("2026-11-01T20:00:00") and only["device"] == "tv"
    opened = await beat(client, user, "film", 700, minutes=10.5)
    assert opened.json()["entry_id"] != entry
    entries = await history_of(client, user)
    assert [e["entry_id"] for e in entries] == [opened.json()["entry_id"], entry]
    resume = (await client.get(media(user, "resume/film"), headers=bearer(user))).json()
    assert resume["position_seconds"] == 700 and resume["progress"] == 0.7


async def test_a_retried_beat_is_a_no_op(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    beat_id = str(uuid.uuid4())
    first = await beat(client, user, "film", 100, entry_id=beat_id)
    assert first.json()["applied"] and first.json()["entry_id"] == beat_id
    retry = await beat(client, user, "film", 100, entry_id=beat_id)
    assert retry.status_code == 200 and not retry.json()["applied"]
    assert {k: v for k, v in retry.json().items() if k != "applied"} == {
        k: v for k, v in first.json().items() if k != "applied"
    }
    second_id = str(uuid.uuid4())
    await beat(client, user, "film", 110, entry_id=second_id)
    late_retry_of_first = await beat(client, user, "film", 100, entry_id=beat_id)
    assert not late_retry_of_first.json()["applied"]
    assert late_retry_of_first.json()["position_seconds"] == 110
    assert len(await history_of(client, user)) == 1
    other_video = await beat(client, user, "other", 5, entry_id=beat_id)
    assert other_video.status_code == 422
    assert other_video.json()["errors"][0]["field"] == "body.entry_id"
    keyed = {**bearer(user), "Idempotency-Key": "beat-42"}
    once = await beat(client, user, "film", 200, headers=keyed)
    twice = await beat(client, user, "film", 200, headers=keyed)
    assert once.json() == twice.json() and once.json()["applied"]
    assert len(await media_events(app)) == 1  # the later beats fell in the same minute


async def test_out_of_order_beats_never_move_the_resume_point_back(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client)
    await beat(client, user, "film", 500, minutes=5)
    older = await beat(client, user, "film", 900, minutes=4)
    same_time = await beat(client, user, "film", 950, minutes=5)
    assert not older.json()["applied"] and not same_time.json()["applied"]
    resume = (await client.get(media(user, "resume/film"), headers=bearer(user))).json()
    assert resume["position_seconds"] == 500
    newer = await beat(client, user, "film", 300, minutes=6)  # seeking back is the viewer's right
    assert newer.json()["applied"] and newer.json()["position_seconds"] == 300


async def test_completion_and_rewatch(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    await beat(client, user, "film", 100, minutes=0)
    await beat(client, user, "series.e1", 10, minutes=1)
    assert await continuing(client, user) == ["series.e1", "film"]
    done = await beat(client, user, "film", 950, minutes=2)  # 95 %
    assert done.json()["completed"] and done.json()["progress"] == 0.95
    assert await continuing(client, user) == ["series.e1"]
    events = await media_events(app)
    assert [(e["video_id"], e["completed"]) for e in events] == [
        ("film", False),
        ("series.e1", False),
        ("film", True),
    ]
    assert events[-1]["position_seconds"] == 950 and events[-1]["progress"] == 0.95
    again = await beat(client, user, "film", 60, minutes=30)
    assert not again.json()["completed"]
    assert await continuing(client, user) == ["film", "series.e1"]
    entries = await history_of(client, user)
    assert [(e["video_id"], e["completed"]) for e in entries] == [
        ("film", False),
        ("film", True),
        ("series.e1", False),
    ]


async def test_the_completion_ratio_is_a_setting(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await make_user(client)
    async with client_for(settings.model_copy(update={"media_completion_ratio": 0.8})) as other:
        answer = await beat(other, user, "film", 800)
        assert answer.json()["completed"]


async def test_progress_events_are_at_most_one_a_minute(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    for position in (10, 15, 20, 25):
        await beat(client, user, "film", position)
    await beat(client, user, "clip", 5)
    events = await media_events(app)
    assert [(e["video_id"], e["position_seconds"]) for e in events] == [("film", 10), ("clip", 5)]
    assert all(e["user_id"] == str(user) and e["viewer_id"] == "default" for e in events)


async def test_dismissing_keeps_the_resume_point(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await beat(client, user, "film", 420, minutes=0)
    await beat(client, user, "clip", 30, minutes=1)
    for _ in range(2):
        dismissed = await client.delete(media(user, "continue-watching/film"), headers=bearer(user))
        assert dismissed.status_code == 204
    assert await continuing(client, user) == ["clip"]
    resume = await client.get(media(user, "resume/film"), headers=bearer(user))
    assert resume.status_code == 200
    assert resume.json()["position_seconds"] == 420 and resume.json()["dismissed"]
    back = await beat(client, user, "film", 425, minutes=2)
    assert not back.json()["dismissed"]
    assert await continuing(client, user) == ["film", "clip"]
    nothing = await client.delete(media(user, "continue-watching/never"), headers=bearer(user))
    assert nothing.status_code == 204


async def test_continue_watching_pages(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    videos = [f"ep{i:02d}" for i in range(25)]
    for minute, video in enumerate(videos):
        await beat(client, user, video, 10, minutes=minute)
    await beat(client, user, "unstarted", 0, minutes=99)  # position 0: not started
    seen: list[str] = []
    cursor = None
    while True:
        query = "continue-watching?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(media(user, query), headers=bearer(user))).json()
        seen += [item["video_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(videos))


async def test_history_range_delete_and_clear(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    for minute, video in ((0, "a"), (20, "b"), (40, "c")):
        await beat(client, user, video, 10, minutes=minute)
    ranged = await history_of(client, user, f"&from={at(10)}&to={at(40)}".replace("+", "%2B"))
    assert [e["video_id"] for e in ranged] == ["b"]
    backwards = await client.get(
        media(user, f"history?from={at(40)}&to={at(10)}".replace("+", "%2B")), headers=bearer(user)
    )
    assert backwards.status_code == 422
    entry = ranged[0]["entry_id"]
    for _ in range(2):
        gone = await client.delete(media(user, f"history/{entry}"), headers=bearer(user))
        assert gone.status_code == 204
    assert [e["video_id"] for e in await history_of(client, user)] == ["c", "a"]
    kept = await client.get(media(user, "resume/b"), headers=bearer(user))
    assert kept.status_code == 200  # one entry's removal keeps the resume point
    cleared = await client.delete(media(user, "history"), headers=bearer(user))
    assert cleared.status_code == 204
    assert await history_of(client, user) == []
    assert await continuing(client, user) == []
    for video in ("a", "b", "c"):
        missing = await client.get(media(user, f"resume/{video}"), headers=bearer(user))
        assert missing.status_code == 404


async def test_resume_reads_see_every_beat_at_once(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    assert (await client.get(media(user, "resume/film"), headers=bearer(user))).status_code == 404
    for minute in range(1, 8):
        await beat(client, user, "film", minute * 10, minutes=minute)
        resume = await client.get(media(user, "resume/film"), headers=bearer(user))
        assert resume.json()["position_seconds"] == minute * 10
        assert await continuing(client, user) == ["film"]


async def test_beats_from_the_future_are_refused(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    accepted = await beat(client, user, "film", 1, watched_at=soon.isoformat())
    assert accepted.status_code == 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    refused = await beat(client, user, "film", 2, watched_at=later.isoformat())
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.watched_at"


def _acceptable(position: float, duration: float) -> bool:
    return 0 <= position <= 86_400 and 0 < duration <= 86_400 and position <= duration + 5


NUMBERS = st.one_of(
    st.floats(min_value=-10, max_value=100_000, allow_nan=False),
    st.sampled_from([0, 0.0, -0.0, 1e-9, 5, 86_400, 86_400.0001, 86_405, 1e308, -1e308]),
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=NUMBERS, duration=NUMBERS)
async def test_beat_numbers_are_checked(
    client: httpx.AsyncClient, position: float, duration: float
) -> None:
    user = await make_user(client)
    answer = await beat(client, user, "film", position, duration)
    if not _acceptable(position, duration):
        assert answer.status_code == 422, (position, duration, answer.text)
        assert (
            await client.get(media(user, "resume/film"), headers=bearer(user))
        ).status_code == 404
        assert await history_of(client, user) == []
        return
    assert answer.status_code == 200, (position, duration, answer.text)
    assert math.isclose(answer.json()["progress"], min(position / duration, 1.0))


async def test_non_numbers_are_refused(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    for position, duration in (("NaN", "100"), ("Infinity", "100"), ("10", "-Infinity")):
        raw = f'{{"video_id": "v", "position_seconds": {position}, "duration_seconds": {duration}}}'
        answer = await client.post(
            media(user, "history"),
            content=raw,
            headers={**bearer(user), "content-type": "application/json"},
        )
        assert answer.status_code == 422, raw
    for bad in ({"position_seconds": "10"}, {"position_seconds": True}, {"duration_seconds": None}):
        body = {"video_id": "v", "position_seconds": 1, "duration_seconds": 10, **bad}
        answer = await client.post(media(user, "history"), json=body, headers=bearer(user))
        assert answer.status_code == 422, bad
    for video in ("", "a b", "x" * 129, "a/b", "é"):
        answer = await client.post(
            media(user, "history"),
            content=json.dumps({"video_id": video, "position_seconds": 1, "duration_seconds": 9}),
            headers={**bearer(user), "content-type": "application/json"},
        )
        assert answer.status_code == 422, video
    assert await history_of(client, user) == []


async def test_a_player_stays_far_inside_the_rate_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """One beat every 5 s is 12 writes a minute against the per-user 200."""
    user = await make_user(client)
    limited = settings.model_copy(update={"rate_limit_enabled": True})
    async with client_for(limited) as player:
        answers = [await beat(player, user, "film", 5 * i, minutes=i / 12) for i in range(1, 13)]
        assert all(answer.status_code == 200 for answer in answers)
        last = answers[-1].headers
        assert last["ratelimit-policy"] == '"user-write";q=200;w=60'
        remaining = int(last["ratelimit"].split(";r=")[1].split(";")[0])
        assert remaining >= 200 - 12


async def test_removals_are_events_too(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    first = await beat(client, user, "film", 100, minutes=0)
    await beat(client, user, "clip", 10, minutes=1)
    for _ in range(2):  # the second of each changes nothing and tells nobody
        await client.delete(media(user, "continue-watching/film"), headers=bearer(user))
        await client.delete(
            media(user, f"history/{first.json()['entry_id']}"), headers=bearer(user)
        )
    await client.delete(media(user, "history"), headers=bearer(user))
    rows = [row.payload for row in await outbox_rows(app.state.db)]
    removals = [
        (r["type"].rsplit(".", 1)[1], r["data"].get("scope"), r["data"].get("video_id"))
        for r in rows
        if r["type"].endswith(("ContinueWatchingDismissed", "HistoryRemoved"))
    ]
    assert removals == [
        ("ContinueWatchingDismissed", None, "film"),
        ("HistoryRemoved", "entry", "film"),
        ("HistoryRemoved", "all", None),
    ]


async def test_an_entry_id_belongs_to_one_viewer_and_video(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    kid = (
        await client.post(media(user, "viewers"), json={"name": "Kid"}, headers=bearer(user))
    ).json()["viewer_id"]
    entry = str(uuid.uuid4())
    assert (await beat(client, user, "film", 10, entry_id=entry)).json()["applied"]
    for viewer in (kid, "default"):
        video = "film" if viewer == kid else "other"
        reused = await beat(client, user, video, 20, entry_id=entry, viewer=viewer)
        assert reused.status_code == 422, viewer
        assert reused.json()["errors"][0]["field"] == "body.entry_id"


async def test_beats_timed_by_the_server_are_never_out_of_order(client: httpx.AsyncClient) -> None:
    """Without ``watched_at`` a beat is timed when its write begins (after the account's lock),
    so concurrent beats are applied in turn, none refused as older than another."""
    user = await make_user(client)
    answers = await asyncio.gather(*(beat(client, user, "film", 10 * i) for i in range(1, 11)))
    assert all(answer.json()["applied"] for answer in answers)
