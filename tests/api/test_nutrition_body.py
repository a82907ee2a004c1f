"""Body metrics and weight history: metric and imperial input, the derived figures, partial
data, conditional writes, the weight log, events and who may do what."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from profilestore.domains.nutrition import formulas
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer

MERGE = {"content-type": "application/merge-patch+json"}
TODAY = dt.datetime.now(dt.UTC).date()


def born(years: int) -> str:
    return TODAY.replace(year=TODAY.year - years, day=min(TODAY.day, 28)).isoformat()


def url(user: uuid.UUID, rest: str = "body") -> str:
    return f"/v1/profiles/{user}/{rest}"


async def put(client: httpx.AsyncClient, user: uuid.UUID, **fields: Any) -> httpx.Response:
    return await client.put(url(user), json=fields, headers=bearer(user))


async def test_metric_body_with_derived_figures(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    made = await put(
        client,
        user,
        height_cm=175,
        weight_kg=70,
        birth_date=born(30),
        sex="male",
        activity_level="moderately_active",
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["age"] == 30 and body["missing"] == [] and body["formula"] == "mifflin_st_jeor"
    assert body["bmr"] == 1648.8  # 1648.75, one decimal
    assert body["tdee"] == round(1648.75 * 1.55, 1)
    assert body["height_cm"] == 175 and "height_in" not in body
    assert made.headers["etag"] == '"1"'
    harris = await client.get(url(user) + "?formula=harris_benedict", headers=bearer(user))
    assert harris.json()["bmr"] == round(formulas.bmr_harris_benedict(70, 175, 30, "male"), 1)
    katch = await client.get(url(user) + "?formula=katch_mcardle", headers=bearer(user))
    assert katch.json()["bmr"] is None and katch.json()["missing"] == ["body_fat_percent"]
    bad = await client.get(url(user) + "?formula=guess", headers=bearer(user))
    assert bad.status_code == 422


async def test_partial_data_never_fails(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    made = await put(client, user, weight_kg=80)
    assert made.status_code == 201
    body = made.json()
    assert body["bmr"] is None and body["tdee"] is None
    assert body["missing"] == ["height_cm", "birth_date", "activity_level"]
    patched = await client.patch(
        url(user),
        json={"height_cm": 180, "birth_date": born(40)},
        headers={**bearer(user), **MERGE},
    )
    assert patched.json()["bmr"] is not None and patched.json()["tdee"] is None
    assert patched.json()["missing"] == ["activity_level"]
    other = patched.json()["bmr"]
    male = formulas.bmr_mifflin_st_jeor(80, 180, 40, "male")
    female = formulas.bmr_mifflin_st_jeor(80, 180, 40, "female")
    assert other == round((male + female) / 2, 1)  # no sex given: the mean


async def test_imperial_in_and_out(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    made = await put(client, user, height_in=70, weight_lb=154, units="imperial")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["height_in"] == 70.0 and body["weight_lb"] == 154.0
    assert "height_cm" not in body and "weight_kg" not in body
    metric = await client.patch(
        url(user), json={"units": "metric"}, headers={**bearer(user), **MERGE}
    )
    assert metric.json()["height_cm"] == pytest.approx(177.8)
    assert metric.json()["weight_kg"] == pytest.approx(69.853, abs=0.001)
    changed = await client.patch(
        url(user), json={"height_in": 71}, headers={**bearer(user), **MERGE}
    )
    assert changed.status_code == 200 and changed.json()["height_cm"] == pytest.approx(180.34)


@pytest.mark.parametrize(
    "fields",
    [
        {"height_cm": 49},
        {"height_cm": 273},
        {"height_cm": "180"},
        {"height_cm": True},
        {"weight_kg": 19.9},
        {"weight_kg": 651},
        {"height_cm": 180, "height_in": 70},
        {"weight_kg": 80, "weight_lb": 176},
        {"height_in": 120},
        {"birth_date": born(12)},
        {"birth_date": born(121)},
        {"birth_date": "1990-02-30"},
        {"birth_date": 19900101},
        {"sex": "unknown"},
        {"activity_level": "couch"},
        {"body_fat_percent": 2},
        {"body_fat_percent": 71},
        {"units": "stone"},
        {"age": 30},
        {"user_id": "x"},
    ],
)
async def test_bad_metrics_are_refused_and_change_nothing(
    client: httpx.AsyncClient, fields: dict[str, Any]
) -> None:
    user = await make_user(client)
    answer = await put(client, user, **fields)
    assert answer.status_code == 422, (fields, answer.text)
    assert (await client.get(url(user), headers=bearer(user))).status_code == 404


async def test_non_numbers_are_refused(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    for raw in ('{"weight_kg": NaN}', '{"height_cm": Infinity}'):
        answer = await client.put(
            url(user), content=raw, headers={**bearer(user), "content-type": "application/json"}
        )
        assert answer.status_code == 422, raw


async def test_conditional_writes(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    assert (await put(client, user, weight_kg=80)).status_code == 201
    stale = await client.put(
        url(user), json={"weight_kg": 81}, headers={**bearer(user), "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    fresh = await client.patch(
        url(user), json={"weight_kg": 81}, headers={**bearer(user), **MERGE, "If-Match": '"1"'}
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"2"'
    same = await put(client, user, weight_kg=81)
    assert same.headers["etag"] == '"2"'  # nothing changed: no new version
    cached = await client.get(url(user), headers={**bearer(user), "If-None-Match": '"2"'})
    assert cached.status_code == 304
    missing = await client.patch(
        url(await make_user(client)), json={"weight_kg": 1}, headers={**bearer(user), **MERGE}
    )
    assert missing.status_code == 404


async def test_weight_history(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    me = bearer(user)
    await put(client, user, weight_kg=82, height_cm=180)
    for days_ago, kg in ((30, 85.0), (10, 83.5)):
        day = (TODAY - dt.timedelta(days=days_ago)).isoformat()
        logged = await client.post(
            url(user, "body/weights"), json={"day": day, "weight_kg": kg}, headers=me
        )
        assert logged.status_code == 201, logged.text
    listed = (await client.get(url(user, "body/weights"), headers=me)).json()["items"]
    assert [item["weight_kg"] for item in listed] == [85.0, 83.5, 82]
    body = (await client.get(url(user), headers=me)).json()
    assert body["weight_kg"] == 82  # a past day's weight is not the current one
    newest = await client.post(
        url(user, "body/weights"), json={"day": TODAY.isoformat(), "weight_lb": 176.4}, headers=me
    )
    assert newest.status_code == 201
    assert (await client.get(url(user), headers=me)).json()["weight_kg"] == pytest.approx(
        80.01, abs=0.01
    )
    window = (
        f"body/weights?from={(TODAY - dt.timedelta(days=20)).isoformat()}&to={TODAY.isoformat()}"
    )
    ranged = (await client.get(url(user, window), headers=me)).json()["items"]
    assert len(ranged) == 2
    for bad in (
        {"day": (TODAY + dt.timedelta(days=3)).isoformat(), "weight_kg": 80},
        {"day": TODAY.isoformat()},
        {"day": TODAY.isoformat(), "weight_kg": 80, "weight_lb": 176},
        {"day": "yesterday", "weight_kg": 80},
    ):
        refused = await client.post(url(user, "body/weights"), json=bad, headers=me)
        assert refused.status_code == 422, bad
    backwards = await client.get(
        url(user, f"body/weights?from={TODAY.isoformat()}&to=2000-01-01"), headers=me
    )
    assert backwards.status_code == 422
    for query in ("to=0", "from=1700000000", "from=2026-13-01"):
        odd = await client.get(url(user, f"body/weights?{query}"), headers=me)
        assert odd.status_code == 422, query


async def test_events_name_the_changes_not_the_measurements(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    await put(client, user, weight_kg=80, height_cm=180, birth_date=born(30), sex="female")
    await client.patch(
        url(user), json={"activity_level": "sedentary"}, headers={**bearer(user), **MERGE}
    )
    rows = [r.payload for r in await outbox_rows(app.state.db)]
    changes = [r["data"] for r in rows if r["type"] == "profilestore.nutrition.BodyMetricsChanged"]
    assert [c["changed"] for c in changes] == [
        ["height_cm", "weight_kg", "birth_date", "sex"],
        ["activity_level"],
    ]
    assert changes[1]["tdee"] == round(changes[1]["bmr"] * 1.2, 1)
    assert all("weight_kg" not in c and "birth_date" not in c for c in changes)


async def test_who_may_read_and_write(client: httpx.AsyncClient) -> None:
    user, other = await make_user(client), await make_user(client)
    await put(client, user, weight_kg=80)
    assert (await client.get(url(user), headers=bearer(other))).status_code == 404
    assert (await client.get(url(user), headers=SERVICE)).status_code == 200
    refused = await client.put(url(user), json={"weight_kg": 90}, headers=SERVICE)
    assert refused.status_code == 404
    dietitian = await client.patch(url(user), json={"weight_kg": 79}, headers={**ADMIN, **MERGE})
    assert dietitian.status_code == 200
    nobody = uuid.uuid4()
    assert (await put(client, nobody, weight_kg=80)).status_code == 404
