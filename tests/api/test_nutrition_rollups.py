"""The rollups always equal a recount of the events: a property over random batches,
corrections, removals and timezone changes, with instants around DST changes (whole-hour and
Lord Howe's half-hour one) and half-hour zones. The oracle buckets the model's events itself."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from profilestore.domains.nutrition.models import DayRollup, HourRollup
from tests.api.test_nutrition_body import url
from tests.api.test_nutrition_summary import user_in, user_in_zone
from tests.support import bearer

MERGE = {"Content-Type": "application/merge-patch+json"}
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", None]
CHANGES = [  # instants next to DST changes (UTC)
    dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),  # Paris, spring
    dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),  # Paris, autumn
    dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC),  # New York, autumn
    dt.datetime(2026, 4, 4, 15, 0, tzinfo=dt.UTC),  # Lord Howe, 30 minutes back
    dt.datetime(2026, 10, 3, 15, 30, tzinfo=dt.UTC),  # Lord Howe, 30 minutes forward
]
KINDS = ["consumed", "burned_activity", "burned_other"]

instants = st.builds(
    lambda base, minutes, seconds: base + dt.timedelta(minutes=minutes, seconds=seconds),
    st.sampled_from(CHANGES),
    st.integers(-26 * 60, 26 * 60),
    st.integers(0, 59),
)
kcals = st.integers(0, 2_000_000).map(lambda milli: milli / 1000)
entries = st.tuples(st.sampled_from(KINDS), kcals, instants)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.lists(entries, min_size=1, max_size=4)),
        st.tuples(st.just("correct"), st.integers(0, 40), entries),
        st.tuples(st.just("remove"), st.integers(0, 40)),
        st.tuples(st.just("zone"), st.sampled_from(ZONES)),
    ),
    min_size=1,
    max_size=10,
)


@dataclass
class Model:
    zone: str | None = "Europe/Paris"
    events: dict[str, tuple[str, float, dt.datetime]] = field(default_factory=dict)


def oracle_hour(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The local wall hour of ``at``, at the offset in force at ``at``, as an instant."""
    wall = at.astimezone(zone)
    hour = wall.replace(minute=0, second=0, microsecond=0, tzinfo=dt.timezone(wall.utcoffset()))
    return hour.astimezone(dt.UTC)


def recount(model: Model) -> tuple[dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]]]:
    zone = ZoneInfo(model.zone or "UTC")
    hours: dict[Any, list[tuple[str, float, dt.datetime]]] = defaultdict(list)
    days: dict[Any, list[tuple[str, float, dt.datetime]]] = defaultdict(list)
    for kind, kcal, at in model.events.values():
        hours[oracle_hour(at, zone)].append((kind, kcal, at))
        days[at.astimezone(zone).date()].append((kind, kcal, at))
    return {k: totals(v) for k, v in hours.items()}, {k: totals(v) for k, v in days.items()}


def totals(events: list[tuple[str, float, dt.datetime]]) -> tuple[Any, ...]:
    per_kind = []
    for kind in KINDS:
        mine = [kcal for k, kcal, _ in events if k == kind]
        per_kind += [sum(round(kcal * 1000) for kcal in mine), len(mine)]
    instants = [at for _, _, at in events]
    return (*per_kind, min(instants), max(instants))


async def stored(app: FastAPI, user: uuid.UUID) -> tuple[dict[Any, Any], dict[Any, Any]]:
    columns = ["consumed_mkcal", "consumed_count", "activity_mkcal", "activity_count"]
    columns += ["other_mkcal", "other_count", "first_at", "last_at"]
    async with app.state.db.read_session() as session:
        hour_rows = (
            await session.execute(select(HourRollup).where(HourRollup.user_id == user))
        ).scalars()
        hours = {r.hour_start: tuple(getattr(r, c) for c in columns) for r in hour_rows}
        day_rows = (
            await session.execute(select(DayRollup).where(DayRollup.user_id == user))
        ).scalars()
        days = {r.day: tuple(getattr(r, c) for c in columns) for r in day_rows}
    return hours, days


def as_body(kind: str, kcal: float, at: dt.datetime) -> dict[str, Any]:
    return {"kind": kind, "kcal": kcal, "at": at.isoformat()}


async def apply(client: httpx.AsyncClient, user: uuid.UUID, model: Model, op: Any) -> None:
    me = bearer(user)
    ids = sorted(model.events)
    if op[0] == "log":
        batch = [as_body(*e) for e in op[1]]
        answer = await client.post(url(user, "calories"), json={"events": batch}, headers=me)
        assert answer.status_code == 201, answer.text
        for item, event in zip(answer.json()["items"], op[1], strict=True):
            model.events[item["event_id"]] = event
    elif op[0] == "correct" and ids:
        event_id = ids[op[1] % len(ids)]
        answer = await client.patch(
            url(user, f"calories/{event_id}"), json=as_body(*op[2]), headers={**me, **MERGE}
        )
        assert answer.status_code == 200, answer.text
        model.events[event_id] = op[2]
    elif op[0] == "remove" and ids:
        event_id = ids[op[1] % len(ids)]
        answer = await client.delete(url(user, f"calories/{event_id}"), headers=me)
        assert answer.status_code == 204
        del model.events[event_id]
    elif op[0] == "zone":
        await user_in_zone(client, user, op[1])
        model.zone = op[1]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
@given(ops=operations)
async def test_rollups_always_equal_a_recount(
    client: httpx.AsyncClient, app: FastAPI, ops: list[Any]
) -> None:
    user = await user_in(client, "Europe/Paris")
    model = Model()
    for op in ops:
        await apply(client, user, model, op)
        want_hours, want_days = recount(model)
        got_hours, got_days = await stored(app, user)
        assert got_days == want_days, (op, ops)
        assert got_hours == want_hours, (op, ops)
