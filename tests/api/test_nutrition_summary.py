"""Calorie summaries: buckets in the user's timezone (DST days of 23 and 25 hours, half-hour
zones, ISO weeks), the daily balance against that day's BMR and target, rollups kept by every
write, correction, removal and timezone change, and the rebuild command."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from profilestore import cli
from profilestore.domains.nutrition import summary as nutrition_summary
from profilestore.domains.nutrition.models import DayRollup, RollupZone, TargetChange
from profilestore.maintenance import rebuild_rollups
from tests.api.test_nutrition_body import url
from tests.api.test_social import make_user
from tests.support import ADMIN, bearer

UTC = dt.UTC


def at(text: str) -> str:
    return dt.datetime.fromisoformat(text).isoformat()


def entry(when: str, kcal: float = 500, kind: str = "consumed", **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "kcal": kcal, "at": at(when), **fields}


async def log(client: httpx.AsyncClient, user: uuid.UUID, *entries: dict[str, Any]) -> list[str]:
    answer = await client.post(
        url(user, "calories"), json={"events": list(entries)}, headers=bearer(user)
    )
    assert answer.status_code == 201, answer.text
    return [item["event_id"] for item in answer.json()["items"]]


async def summary(
    client: httpx.AsyncClient, user: uuid.UUID, granularity: str, first: str, last: str
) -> dict[str, Any]:
    query = f"calories/summary?granularity={granularity}&from={first}&to={last}"
    answer = await client.get(url(user, query), headers=bearer(user))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def user_in(client: httpx.AsyncClient, timezone: str) -> uuid.UUID:
    user = await make_user(client)
    answer = await client.patch(
        f"/v1/profiles/{user}",
        json={"timezone": timezone},
        headers={**bearer(user), "Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    return user


def by_start(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {bucket["start"]: bucket for bucket in body["buckets"]}


async def test_days_are_the_users_local_days(client: httpx.AsyncClient) -> None:
    user = await user_in(client, "Asia/Tokyo")
    await log(client, user, entry("2026-03-10T14:00:00+00:00"), entry("2026-03-10T16:30:00Z"))
    body = await summary(client, user, "day", "2026-03-10", "2026-03-11")
    assert body["timezone"] == "Asia/Tokyo"
    first, second = body["buckets"]
    assert (first["start"], first["count"], first["first"]) == (
        "2026-03-10",
        1,
        "2026-03-10T23:00:00+09:00",
    )
    assert (second["start"], second["count"], second["last"]) == (
        "2026-03-11",
        1,
        "2026-03-11T01:30:00+09:00",
    )
    hours = await summary(client, user, "hour", "2026-03-11", "2026-03-11")
    assert len(hours["buckets"]) == 24
    assert by_start(hours)["2026-03-11T01:00:00+09:00"]["count"] == 1
    assert sum(b["count"] for b in hours["buckets"]) == 1


async def test_dst_days_have_23_and_25_hours(client: httpx.AsyncClient) -> None:
    user = await user_in(client, "Europe/Paris")
    # 00:30Z and 01:30Z on 25 October are both 02:30 in Paris, an hour apart.
    await log(
        client,
        user,
        entry("2026-10-25T00:30:00Z", 100),
        entry("2026-10-25T01:30:00Z", 200),
        entry("2026-03-29T01:30:00Z", 300),
    )
    spring = await summary(client, user, "day", "2026-03-28", "2026-03-30")
    assert [b["hours"] for b in spring["buckets"]] == [24, 23, 24]
    autumn = await summary(client, user, "day", "2026-10-25", "2026-10-25")
    assert autumn["buckets"][0]["hours"] == 25 and autumn["buckets"][0]["consumed"] == 300

    hours = await summary(client, user, "hour", "2026-10-25", "2026-10-25")
    assert len(hours["buckets"]) == 25
    twice = by_start(hours)
    assert twice["2026-10-25T02:00:00+02:00"]["consumed"] == 100
    assert twice["2026-10-25T02:00:00+01:00"]["consumed"] == 200
    spring_hours = await summary(client, user, "hour", "2026-03-29", "2026-03-29")
    starts = [b["start"] for b in spring_hours["buckets"]]
    assert len(starts) == 23 and not any(s.startswith("2026-03-29T02:") for s in starts)
    assert by_start(spring_hours)["2026-03-29T03:00:00+02:00"]["consumed"] == 300


async def test_half_hour_zones_have_hours_starting_at_half_past(
    client: httpx.AsyncClient,
) -> None:
    user = await user_in(client, "Asia/Kolkata")
    await log(client, user, entry("2026-06-01T10:45:00Z"), entry("2026-06-01T11:15:00Z"))
    hours = by_start(await summary(client, user, "hour", "2026-06-01", "2026-06-01"))
    assert hours["2026-06-01T16:00:00+05:30"]["count"] == 2  # 10:30Z-11:30Z


async def test_weeks_start_on_monday_and_months_and_years_fold_days(
    client: httpx.AsyncClient,
) -> None:
    user = await user_in(client, "Europe/Paris")
    await log(
        client,
        user,
        entry("2026-11-29T12:00:00Z", 100),  # a Sunday
        entry("2026-11-30T08:00:00Z", 200, "burned_activity"),  # a Monday
        entry("2025-12-31T23:30:00Z", 400),  # 1 January 2026 in Paris
    )
    weeks = await summary(client, user, "week", "2026-11-25", "2026-11-30")
    assert body_starts(weeks) == ["2026-11-23", "2026-11-30"]
    assert [(b["consumed"], b["burned"]) for b in weeks["buckets"]] == [(100, 0), (0, 200)]
    months = await summary(client, user, "month", "2026-01-15", "2026-11-30")
    assert body_starts(months)[0] == "2026-01-01" and len(months["buckets"]) == 11
    assert months["buckets"][0]["consumed"] == 400 and months["buckets"][-1]["count"] == 2
    years = await summary(client, user, "year", "2025-01-01", "2026-06-30")
    assert body_starts(years) == ["2025-01-01", "2026-01-01"]
    assert [b["count"] for b in years["buckets"]] == [0, 3]
    assert years["buckets"][1]["avg"] == round(700 / 3, 3)


def body_starts(body: dict[str, Any]) -> list[str]:
    return [b["start"] for b in body["buckets"]]


async def set_targets(app: FastAPI, user: uuid.UUID, *targets: tuple[str, float]) -> None:
    async with app.state.db.write_session() as session:
        await session.execute(delete(TargetChange).where(TargetChange.user_id == user))
        for when, kcal in targets:
            session.add(
                TargetChange(
                    user_id=user,
                    effective_at=dt.datetime.fromisoformat(when),
                    kcal=kcal,
                    source="override",
                    clamped=False,
                )
            )
        await session.commit()


async def with_body(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    body = {
        "height_cm": 180,
        "weight_kg": 80,
        "birth_date": "1990-06-15",
        "sex": "male",
        "activity_level": "sedentary",
    }
    answer = await client.put(url(user, "body"), json=body, headers=bearer(user))
    assert answer.status_code in (200, 201), answer.text
    logged = await client.post(
        url(user, "body/weights"), json={"day": "2026-11-01", "weight_kg": 85}, headers=bearer(user)
    )
    assert logged.status_code in (200, 201), logged.text


async def test_the_balance_uses_that_days_bmr_and_target(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await user_in(client, "UTC")
    await with_body(client, user)
    # Mifflin-St Jeor, male, 85 kg (the weight logged on 1 November), 180 cm, 36 years old:
    # 850 + 1125 - 180 + 5 = 1800 kcal a day.
    await set_targets(
        app, user, ("2026-11-01T00:00:00+00:00", 2000), ("2026-11-06T12:00:00+00:00", 1700)
    )
    await log(
        client,
        user,
        entry("2026-11-05T08:00:00Z", 2500),
        entry("2026-11-05T18:00:00Z", 300, "burned_activity"),
        entry("2026-11-05T19:00:00Z", 100, "burned_other"),
        entry("2026-11-06T08:00:00Z", 1000),
        entry("2026-10-20T08:00:00Z", 1000),
    )
    days = by_start(await summary(client, user, "day", "2026-11-04", "2026-11-06"))
    fifth = days["2026-11-05"]
    assert (fifth["burned"], fifth["bmr_burn"], fifth["balance"]) == (400, 1800, 400)
    assert (fifth["target"], fifth["variance"], fifth["days_logged"]) == (2000, 500, 1)
    sixth = days["2026-11-06"]  # the target set at noon is the day's target
    assert (sixth["balance"], sixth["target"], sixth["variance"]) == (-800, 1700, -700)
    empty = days["2026-11-04"]
    assert (empty["days_logged"], empty["balance"], empty["variance"]) == (0, None, None)

    week = (await summary(client, user, "week", "2026-11-02", "2026-11-08"))["buckets"][0]
    assert (week["days_logged"], week["bmr_burn"], week["balance"]) == (2, 3600, -400)
    assert (week["target"], week["variance"]) == (3700, -200)
    october = (await summary(client, user, "day", "2026-10-20", "2026-10-20"))["buckets"][0]
    # No weight logged before 20 October: the current weight (80 kg) is used; no target yet.
    assert october["bmr_burn"] == 1750 and october["target"] is None


async def test_a_dst_day_burns_25_hours_of_bmr(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await user_in(client, "Europe/Paris")
    await with_body(client, user)
    await log(client, user, entry("2026-10-25T10:00:00Z", 1000))
    day = (await summary(client, user, "day", "2026-10-25", "2026-10-25"))["buckets"][0]
    # 80 kg (the current weight: none logged before 25 October): 1750 kcal a day.
    assert day["bmr_burn"] == round(1750 * 25 / 24, 1)


async def test_without_body_metrics_the_balance_is_unknown_not_an_error(
    client: httpx.AsyncClient,
) -> None:
    user = await user_in(client, "UTC")
    await log(client, user, entry("2026-11-05T08:00:00Z", 2500))
    body = await summary(client, user, "day", "2026-11-05", "2026-11-05")
    assert body["missing"] == ["height_cm", "weight_kg", "birth_date"]
    bucket = body["buckets"][0]
    assert (bucket["consumed"], bucket["bmr_burn"], bucket["balance"]) == (2500, None, None)


async def test_corrections_and_removals_move_their_buckets(client: httpx.AsyncClient) -> None:
    user = await user_in(client, "UTC")
    early, late = await log(
        client, user, entry("2026-11-05T08:00:00Z", 100), entry("2026-11-05T12:00:00Z", 200)
    )
    moved = await client.patch(
        url(user, f"calories/{early}"),
        json={"at": "2026-11-07T09:00:00Z", "kcal": 150, "kind": "burned_activity"},
        headers={**bearer(user), "Content-Type": "application/merge-patch+json"},
    )
    assert moved.status_code == 200, moved.text
    days = by_start(await summary(client, user, "day", "2026-11-05", "2026-11-07"))
    assert (days["2026-11-05"]["count"], days["2026-11-05"]["first"]) == (
        1,
        "2026-11-05T12:00:00+00:00",
    )
    assert (days["2026-11-07"]["burned_activity"], days["2026-11-07"]["consumed"]) == (150, 0)
    removed = await client.delete(url(user, f"calories/{late}"), headers=bearer(user))
    assert removed.status_code == 204
    days = by_start(await summary(client, user, "day", "2026-11-05", "2026-11-07"))
    assert (days["2026-11-05"]["count"], days["2026-11-05"]["first"]) == (0, None)
    hours = await summary(client, user, "hour", "2026-11-05", "2026-11-05")
    assert sum(b["count"] for b in hours["buckets"]) == 0


async def test_a_timezone_change_rebuckets_the_ledger(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await user_in(client, "Europe/Paris")
    await log(client, user, entry("2026-11-05T23:30:00Z"))  # 6 November, 00:30 in Paris
    assert (await summary(client, user, "day", "2026-11-06", "2026-11-06"))["buckets"][0][
        "count"
    ] == 1
    await user_in_zone(client, user, "America/New_York")
    body = await summary(client, user, "day", "2026-11-05", "2026-11-06")
    assert body["timezone"] == "America/New_York"
    assert [b["count"] for b in body["buckets"]] == [1, 0]  # 18:30 on the 5th in New York
    assert await recorded_zone(app, user) == "America/New_York"


async def user_in_zone(client: httpx.AsyncClient, user: uuid.UUID, timezone: str | None) -> None:
    answer = await client.patch(
        f"/v1/profiles/{user}",
        json={"timezone": timezone},
        headers={**bearer(user), "Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text


async def recorded_zone(app: FastAPI, user: uuid.UUID) -> str | None:
    async with app.state.db.read_session() as session:
        statement = select(RollupZone.timezone).where(RollupZone.user_id == user)
        return (await session.execute(statement)).scalar_one_or_none()


async def test_rollups_in_another_zone_are_not_trusted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Rollups recorded in a zone other than the profile's (changed behind the service's back)
    are neither read nor added to: reads count from the events, the next write rebuilds."""
    user = await user_in(client, "Europe/Paris")
    await log(client, user, entry("2026-11-05T23:30:00Z"))
    async with app.state.db.write_session() as session:
        await session.execute(
            update(RollupZone).where(RollupZone.user_id == user).values(timezone="Asia/Tokyo")
        )
        await session.commit()
    body = await summary(client, user, "day", "2026-11-05", "2026-11-06")
    assert [b["count"] for b in body["buckets"]] == [0, 1]
    await log(client, user, entry("2026-11-05T23:15:00Z"))
    assert await recorded_zone(app, user) == "Europe/Paris"
    body = await summary(client, user, "day", "2026-11-05", "2026-11-06")
    assert [b["count"] for b in body["buckets"]] == [0, 2]


async def test_summaries_read_rollups_and_the_command_repairs_them(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await user_in(client, "UTC")
    await log(client, user, entry("2026-11-05T08:00:00Z", 100))
    async with app.state.db.write_session() as session:
        await session.execute(
            update(DayRollup).where(DayRollup.user_id == user).values(consumed_mkcal=999_000)
        )
        await session.commit()
    drifted = await summary(client, user, "day", "2026-11-05", "2026-11-05")
    assert drifted["buckets"][0]["consumed"] == 999  # read from the rollup, not the events

    command = await asyncio.to_thread(
        CliRunner().invoke,
        cli.app,
        ["nutrition", "rebuild-rollups", "--user", str(user), "--check"],
        env={"PROFILESTORE_DATABASE_URL": app.state.settings.database_url},
    )
    assert command.exit_code == 1, command.output
    assert f"{user}: 0 hours and 1 days differed from a recount" in command.output
    assert "checked the rollups of 1 users (1 events): 1 differed" in command.output

    lines: list[str] = []
    checked = await rebuild_rollups(
        app.state.settings, user, check=True, echo=lines.append, db=app.state.db
    )
    assert (checked.users_differing, checked.days_differing, checked.hours_differing) == (1, 1, 0)
    assert (await summary(client, user, "day", "2026-11-05", "2026-11-05"))["buckets"][0][
        "consumed"
    ] == 999  # --check changes nothing
    fixed = await rebuild_rollups(
        app.state.settings, None, check=False, echo=lines.append, db=app.state.db
    )
    assert fixed.users_differing == 1 and fixed.users >= 1
    assert any(line.startswith(f"{user}: 0 hours and 1 days") for line in lines)
    repaired = await summary(client, user, "day", "2026-11-05", "2026-11-05")
    assert repaired["buckets"][0]["consumed"] == 100
    again = await rebuild_rollups(
        app.state.settings, user, check=True, echo=lines.append, db=app.state.db
    )
    assert again.users_differing == 0


async def test_defaults_limits_and_bad_queries(client: httpx.AsyncClient) -> None:
    user = await user_in(client, "UTC")
    default = await client.get(url(user, "calories/summary"), headers=bearer(user))
    assert default.status_code == 200 and default.json()["granularity"] == "day"
    assert len(default.json()["buckets"]) == 30
    today = dt.datetime.now(UTC).date().isoformat()
    assert default.json()["to"] == today and default.json()["buckets"][-1]["start"] == today
    hours = await client.get(url(user, "calories/summary?granularity=hour"), headers=bearer(user))
    assert len(hours.json()["buckets"]) == 24
    for query, field in [
        ("granularity=minute", "granularity"),
        ("from=2026-11-05&to=2026-11-04", "from"),
        ("granularity=hour&from=2026-01-01&to=2026-12-31", "to"),
        ("from=2026-13-01", "from"),
        ("from=yesterday", "from"),
        ("from=0001-01-01&to=0001-01-02", "from"),  # would overflow east of UTC
        ("to=9999-12-31", "to"),
        ("granularity=year&from=2200-01-01&to=2201-01-01", "to"),
    ]:
        answer = await client.get(url(user, f"calories/summary?{query}"), headers=bearer(user))
        assert answer.status_code == 422, (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in answer.text, query
    missing = await client.get(url(uuid.uuid4(), "calories/summary"), headers=ADMIN)
    assert missing.status_code == 404
    stranger = await client.get(url(user, "calories/summary"), headers=bearer(uuid.uuid4()))
    assert stranger.status_code in (403, 404)


async def test_today_burns_the_bmr_of_the_hours_so_far(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await user_in(client, "UTC")
    await with_body(client, user)
    await log(client, user, entry("2026-11-05T05:00:00Z", 600), entry("2026-11-06T01:00:00Z"))
    six_am = dt.datetime(2026, 11, 5, 6, tzinfo=UTC)  # "now", for this read
    async with app.state.db.read_session() as session:
        body = await nutrition_summary.summary(
            session, user, "day", dt.date(2026, 11, 5), dt.date(2026, 11, 6), now=six_am
        )
    today, tomorrow = body["buckets"]
    assert (today["bmr_burn"], today["balance"]) == (450, 150)  # a quarter of 1800
    assert (tomorrow["bmr_burn"], tomorrow["balance"]) == (0, 500)  # logged ahead
