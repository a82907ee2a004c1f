"""The eating profile, goals and the calorie target: derived from TDEE and the active goal,
clamped at the floor, overridden by hand until the override is removed, recorded and announced
whenever it moves."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from profilestore.domains.nutrition import formulas
from profilestore.domains.nutrition.models import TargetChange
from tests.api.test_nutrition_body import MERGE, TODAY, born, url
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer

BODY = {
    "height_cm": 175,
    "weight_kg": 70,
    "birth_date": born(30),
    "sex": "male",
    "activity_level": "moderately_active",
}
TDEE = formulas.tdee(formulas.bmr_mifflin_st_jeor(70, 175, 30, "male"), "moderately_active")


async def eating(client: httpx.AsyncClient, user: uuid.UUID, **fields: Any) -> httpx.Response:
    return await client.put(url(user, "eating"), json=fields, headers=bearer(user))


async def target_of(client: httpx.AsyncClient, user: uuid.UUID) -> dict[str, Any]:
    answer = await client.get(url(user, "eating"), headers=bearer(user))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return {k: body[k] for k in ("calorie_target", "target_source", "clamped", "missing")}


async def goal(client: httpx.AsyncClient, user: uuid.UUID, **fields: Any) -> httpx.Response:
    return await client.post(url(user, "goals"), json=fields, headers=bearer(user))


async def test_eating_profile_fields(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    made = await eating(
        client,
        user,
        diet="vegetarian",
        allergies=["peanuts", "Gluten", "peanuts"],
        meals_per_day=3,
        macro_split={"protein": 30, "carbs": 40, "fat": 30},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["allergies"] == ["Gluten", "peanuts"] and body["excluded_foods"] == []
    assert body["calorie_target"] is None and body["target_source"] == "derived"
    assert body["missing"] == ["height_cm", "weight_kg", "birth_date", "activity_level"]
    for bad in (
        {"macro_split": {"protein": 30, "carbs": 40, "fat": 31}},
        {"macro_split": {"protein": 30, "carbs": 70}},
        {"meals_per_day": 0},
        {"meals_per_day": 9},
        {"diet": "carnivore"},
        {"allergies": ["x" * 65]},
        {"allergies": [" "]},
        {"allergies": ["a"] * 51},
        {"calorie_target_override": 799},
        {"calorie_target_override": "1800"},
    ):
        refused = await eating(client, user, **bad)
        assert refused.status_code == 422, bad
    assert (await client.get(url(user, "eating"), headers=bearer(user))).json()["version"] == 1


async def test_the_target_follows_body_and_goal(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await eating(client, user, diet="omnivore")
    await client.put(url(user), json=BODY, headers=bearer(user))
    assert await target_of(client, user) == {
        "calorie_target": round(TDEE),
        "target_source": "derived",
        "clamped": False,
        "missing": [],
    }
    set_goal = await goal(client, user, goal_type="weight_loss", rate_kg_per_week=0.5)
    assert set_goal.status_code == 201, set_goal.text
    assert (await target_of(client, user))["calorie_target"] == round(TDEE - 550)
    await goal(client, user, goal_type="weight_loss", rate_kg_per_week=1.0)
    low = await target_of(client, user)
    assert low["calorie_target"] == max(round(TDEE - 1100), 1500)
    await client.patch(
        url(user), json={"activity_level": "sedentary"}, headers={**bearer(user), **MERGE}
    )
    clamped = await target_of(client, user)
    assert clamped == {
        "calorie_target": 1500,
        "target_source": "derived",
        "clamped": True,
        "missing": [],
    }


async def test_an_override_survives_every_recompute_until_removed(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client)
    await client.put(url(user), json=BODY, headers=bearer(user))
    await eating(client, user)
    dietitian = await client.patch(
        url(user, "eating"), json={"calorie_target_override": 1800}, headers={**ADMIN, **MERGE}
    )
    assert dietitian.status_code == 200
    await goal(client, user, goal_type="weight_gain", rate_kg_per_week=0.5)
    await client.patch(url(user), json={"weight_kg": 90}, headers={**bearer(user), **MERGE})
    assert await target_of(client, user) == {
        "calorie_target": 1800,
        "target_source": "override",
        "clamped": False,
        "missing": [],
    }
    removed = await client.patch(
        url(user, "eating"),
        json={"calorie_target_override": None},
        headers={**bearer(user), **MERGE},
    )
    assert removed.json()["target_source"] == "derived"
    heavier = formulas.tdee(formulas.bmr_mifflin_st_jeor(90, 175, 30, "male"), "moderately_active")
    assert removed.json()["calorie_target"] == round(heavier + 550)


async def test_goals_one_active_and_their_rules(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    first = await goal(client, user, goal_type="maintenance")
    second = await goal(
        client,
        user,
        goal_type="weight_loss",
        target_weight_kg=65,
        target_date=(TODAY + dt.timedelta(days=90)).isoformat(),
        rate_kg_per_week=0.75,
    )
    assert first.status_code == second.status_code == 201
    listed = (await client.get(url(user, "goals"), headers=bearer(user))).json()["items"]
    assert [g["goal_id"] for g in listed] == [second.json()["goal_id"], first.json()["goal_id"]]
    assert [g["active"] for g in listed] == [True, False] and listed[1]["ended_at"] is not None
    for bad in (
        {"goal_type": "weight_loss", "rate_kg_per_week": 1.01},
        {"goal_type": "weight_gain", "rate_kg_per_week": 0.51},
        {"goal_type": "maintenance", "rate_kg_per_week": 0.1},
        {"goal_type": "weight_loss", "rate_kg_per_week": 0},
        {"goal_type": "weight_loss", "target_date": TODAY.isoformat()},
        {"goal_type": "weight_loss", "target_weight_kg": 19},
        {"goal_type": "bulk"},
        {},
    ):
        assert (await goal(client, user, **bad)).status_code == 422, bad
    assert len((await client.get(url(user, "goals"), headers=bearer(user))).json()["items"]) == 2
    assert (await goal(client, uuid.uuid4(), goal_type="maintenance")).status_code == 404
    assert (
        await client.post(url(user, "goals"), json={"goal_type": "maintenance"}, headers=SERVICE)
    ).status_code == 404


async def test_every_move_of_the_target_is_recorded_and_announced(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    await eating(client, user)  # no body yet: no target, nothing recorded
    await client.put(url(user), json=BODY, headers=bearer(user))
    await client.put(url(user), json=BODY, headers=bearer(user))  # unchanged: nothing new
    await goal(client, user, goal_type="weight_loss", rate_kg_per_week=0.5)
    await client.patch(
        url(user, "eating"),
        json={"calorie_target_override": 2000},
        headers={**bearer(user), **MERGE},
    )
    rows = [r.payload["data"] for r in await outbox_rows(app.state.db)]
    changes = [(r["old"], r["new"], r["source"]) for r in rows if "source" in r and "new" in r]
    assert changes == [
        (None, round(TDEE), "derived"),
        (round(TDEE), round(TDEE - 550), "derived"),
        (round(TDEE - 550), 2000, "override"),
    ]
    async with app.state.db.read_session() as session:
        history = (
            await session.execute(
                select(TargetChange.kcal, TargetChange.source)
                .where(TargetChange.user_id == user)
                .order_by(TargetChange.effective_at)
            )
        ).all()
    assert [tuple(row) for row in history] == [(c[1], c[2]) for c in changes]


@pytest.mark.parametrize("sex, floor", [("female", 1200), ("other", 1350)])
async def test_floors_by_sex(client: httpx.AsyncClient, sex: str, floor: int) -> None:
    user = await make_user(client)
    small = {**BODY, "sex": sex, "weight_kg": 45, "height_cm": 150, "activity_level": "sedentary"}
    await client.put(url(user), json=small, headers=bearer(user))
    await eating(client, user)
    await goal(client, user, goal_type="weight_loss", rate_kg_per_week=1.0)
    target = await target_of(client, user)
    assert target["calorie_target"] == floor and target["clamped"]
