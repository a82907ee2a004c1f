"""Federation for real: three `profilestore serve` processes on three PostgreSQL databases, the
hub (identity, social and media) and the nutrition and movement services, each serving only
its domains. The aggregate through the hub is complete; with the movement process stopped
(SIGSTOP) it answers within the hub's budget with movement in `errors` (`timeout`) and the
rest intact; continued (SIGCONT), it is complete again once the breaker's cool-down is over.
The same through GraphQL: createUserProfile writes its parts across the three processes, a
retry with the same Idempotency-Key repeats nothing, and with movement stopped a query answers
`data` with movement null and its error."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import postgres_env, serving
from tests.support import bearer, postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BUDGET_MS = 800
COOL_DOWN_SECONDS = 1.0
SECTIONS = ("identity", "social", "media", "nutrition", "movement")


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), f"{answer.request.url}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def stable(aggregate: dict[str, Any]) -> dict[str, Any]:
    """The aggregate without what moves with the clock (today's BMR burn and balance)."""
    nutrition = aggregate.get("nutrition")
    if not nutrition or not nutrition.get("today"):
        return aggregate
    today = {key: nutrition["today"][key] for key in ("start", "consumed", "count")}
    return aggregate | {"nutrition": nutrition | {"today": today}}


ONBOARD = """mutation Onboard($input: CreateUserProfileInput!) {
  createUserProfile(input: $input) { steps { step domain status error { code } } } }"""
READ = """query Read($id: UUID!) { user(id: $id) {
  profile { username } body { heightCm } eating { diet } movement { daysPerWeek } } }"""


def graphql(
    client: httpx.Client, hub: str, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    body = ok(
        client.post(
            f"{hub}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    )
    return body


def onboard_across_services(client: httpx.Client, hub: str) -> uuid.UUID:
    """createUserProfile through the hub: identity here, the other parts in their services."""
    user = uuid.uuid4()
    given = {
        "profile": {"username": f"g{user.hex[:12]}"},
        "body": {"heightCm": 181.0, "weightKg": 77.0},
        "eating": {"diet": "pescatarian"},
        "movement": {"goals": ["mobility"], "daysPerWeek": 2},
    }
    headers = bearer(user) | {"Idempotency-Key": f"onboard-{user}"}
    first = graphql(client, hub, ONBOARD, {"input": given}, headers)
    steps = {
        s["step"]: (s["domain"], s["status"]) for s in first["data"]["createUserProfile"]["steps"]
    }
    assert steps == {
        "profile": ("identity", "created"),
        "body": ("nutrition", "created"),
        "eating": ("nutrition", "created"),
        "movement": ("movement", "created"),
    }, first
    again = graphql(client, hub, ONBOARD, {"input": given}, headers)
    assert {s["status"] for s in again["data"]["createUserProfile"]["steps"]} == {"unchanged"}
    read = graphql(client, hub, READ, {"id": str(user)}, bearer(user))
    assert "errors" not in read, read
    assert read["data"]["user"]["body"] == {"heightCm": 181}
    assert read["data"]["user"]["movement"] == {"daysPerWeek": 2}
    return user


def test_three_processes(tmp_path: Path) -> None:
    with ExitStack() as stack:
        databases = {
            name: stack.enter_context(postgres_database(migrate=False))
            for name in ("hub", "n", "m")
        }

        def start(name: str, domains: str, **settings: str) -> tuple[str, int]:
            env = postgres_env(databases[name], tmp_path / name / "var", **settings)
            base, process, _ = stack.enter_context(
                serving(env, tmp_path / name, ["--domains", domains])
            )
            return base, process.pid

        nutrition, _ = start("n", "nutrition")
        movement, movement_pid = start("m", "movement")
        hub, _ = start(
            "hub",
            "profiles,social,media",
            hub_domains=json.dumps({"nutrition": nutrition, "movement": movement}),
            hub_timeout_ms=str(BUDGET_MS),
            hub_breaker_failures="2",
            hub_breaker_cool_down_seconds=str(COOL_DOWN_SECONDS),
        )
        client = stack.enter_context(httpx.Client(timeout=10))
        user, friend = uuid.uuid4(), uuid.uuid4()
        me = bearer(user)

        # Identity, social and media through the hub; nutrition and movement through theirs.
        for who in (user, friend):
            profile = {"username": f"u{who.hex[:12]}", "timezone": "Europe/Paris"}
            ok(client.put(f"{hub}/v1/profiles/{who}", json=profile, headers=bearer(who)))
        ok(client.put(f"{hub}/v1/profiles/{user}/contacts/{friend}", json={}, headers=me))
        ok(client.post(f"{hub}/v1/profiles/{user}/watchlist", json={"video_id": "v1"}, headers=me))
        body = {"height_cm": 170, "weight_kg": 70, "birth_date": "1990-01-01"}
        ok(client.put(f"{nutrition}/v1/profiles/{user}/body", json=body, headers=me))
        ok(client.put(f"{nutrition}/v1/profiles/{user}/eating", json={"diet": "vegan"}, headers=me))
        kcal = {"kind": "consumed", "kcal": 420, "at": dt.datetime.now(dt.UTC).isoformat()}
        ok(client.post(f"{nutrition}/v1/profiles/{user}/calories", json=kcal, headers=me))
        move = {"goals": ["strength"], "days_per_week": 3}
        ok(client.put(f"{movement}/v1/profiles/{user}/movement", json=move, headers=me))
        # Each service's database holds its own tables only.
        assert client.get(f"{nutrition}/v1/profiles/{user}", headers=me).status_code == 404
        assert client.get(f"{hub}/v1/profiles/{user}/movement", headers=me).status_code == 404

        aggregate = f"{hub}/v1/users/{user}/profiles"
        complete = ok(client.get(aggregate, headers=me))
        assert (complete["missing"], complete["errors"]) == ([], [])
        assert all(complete[section] is not None for section in SECTIONS), complete
        assert complete["movement"]["goals"] == ["strength"]
        assert complete["nutrition"]["eating"]["diet"] == "vegan"
        assert complete["nutrition"]["today"]["consumed"] == 420
        assert complete["social"]["contacts_count"] == 1
        # A stranger's token reaches the services too: their private sections are null.
        stranger = ok(client.get(aggregate, headers=bearer(uuid.uuid4())))
        assert (stranger["nutrition"], stranger["movement"], stranger["errors"]) == (None, None, [])
        onboarded = onboard_across_services(client, hub)

        os.kill(movement_pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            partial = ok(client.get(aggregate, headers=me))
            elapsed = time.monotonic() - started
            assert partial["movement"] is None
            assert partial["errors"] == [{"domain": "movement", "code": "timeout"}]
            assert elapsed < BUDGET_MS / 1000 + 1.0, elapsed
            expected = complete | {"movement": None, "errors": partial["errors"]}
            assert stable(partial) == stable(expected)
            # Once the breaker is open the domain is skipped at once (unavailable).
            codes = [ok(client.get(aggregate, headers=me))["errors"][0]["code"] for _ in range(3)]
            assert codes[-1] == "unavailable" and set(codes) <= {"timeout", "unavailable"}
            read = graphql(client, hub, READ, {"id": str(onboarded)}, bearer(onboarded))
            assert read["data"]["user"]["movement"] is None, read
            assert read["data"]["user"]["eating"] == {"diet": "pescatarian"}
            errors = [(e["path"][-1], e["extensions"]["code"]) for e in read["errors"]]
            assert errors in ([("movement", "unavailable")], [("movement", "timeout")]), errors
        finally:
            os.kill(movement_pid, signal.SIGCONT)

        deadline = time.monotonic() + 10 * COOL_DOWN_SECONDS + 10
        while True:
            again = ok(client.get(aggregate, headers=me))
            if stable(again) == stable(complete) or time.monotonic() > deadline:
                break
            time.sleep(COOL_DOWN_SECONDS / 4)
        assert stable(again) == stable(complete)
