"""Username rules (both databases): a given-up name is held for its former owner, a user
changes their username at most once per period (admins exempt), reserved names (built in,
configured and from a file) are refused, held names expire, deletion releases them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from profilestore.domains.profiles.username_models import UsernameChange, UsernameHold
from profilestore.settings import Settings
from tests.support import ADMIN, bearer, client_for


async def create(client: httpx.AsyncClient, name: str) -> uuid.UUID:
    user = uuid.uuid4()
    answer = await client.put(f"/v1/profiles/{user}", json={"username": name}, headers=bearer(user))
    assert answer.status_code == 201, answer.text
    return user


async def rename(
    client: httpx.AsyncClient, user: uuid.UUID, name: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.patch(
        f"/v1/profiles/{user}",
        json={"username": name},
        headers={**(headers or bearer(user)), "Content-Type": "application/merge-patch+json"},
    )


async def age(app: FastAPI, days: int) -> None:
    """Move every hold and change ``days`` into the past."""
    delta = dt.timedelta(days=days)
    async with app.state.db.write_session() as session:
        for hold in (await session.execute(select(UsernameHold))).scalars():
            hold.held_until -= delta
        for change in (await session.execute(select(UsernameChange))).scalars():
            change.changed_at -= delta
        await session.commit()


async def test_a_given_up_name_is_held_for_its_former_owner(client: httpx.AsyncClient) -> None:
    owner = await create(client, "Ada.Old")
    assert (await rename(client, owner, "ada.new")).status_code == 200
    other = uuid.uuid4()
    taken = await client.put(
        f"/v1/profiles/{other}", json={"username": "ADA.OLD"}, headers=bearer(other)
    )
    assert taken.status_code == 409
    assert taken.json()["type"].endswith("username-held")
    assert taken.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/v1/profiles/{other}", headers=bearer(other))).status_code == 404
    back = await rename(client, owner, "ada.old")  # taking it back is not a second change
    assert back.status_code == 200 and back.json()["username"] == "ada.old"
    assert (await rename(client, owner, "ada.third")).status_code == 429


async def test_a_held_name_is_free_once_the_hold_expires(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await create(client, "grace.old")
    assert (await rename(client, owner, "grace.new")).status_code == 200
    await age(app, 31)
    newcomer = await create(client, "grace.old")
    assert (await client.get(f"/v1/profiles/{newcomer}", headers=ADMIN)).json()["username"] == (
        "grace.old"
    )


async def test_one_change_per_period_admins_exempt(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await create(client, "lin.one")
    assert (await rename(client, user, "lin.two")).status_code == 200
    refused = await rename(client, user, "lin.three")
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("username-change-too-soon")
    assert 29 * 86400 < int(refused.headers["Retry-After"]) <= 30 * 86400
    unchanged = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
    assert unchanged.json()["username"] == "lin.two"
    assert (await rename(client, user, "lin.admin", ADMIN)).status_code == 200
    await age(app, 31)
    assert (await rename(client, user, "lin.four")).status_code == 200


async def test_other_fields_change_freely_within_the_period(client: httpx.AsyncClient) -> None:
    user = await create(client, "kim.one")
    assert (await rename(client, user, "kim.two")).status_code == 200
    answer = await client.patch(
        f"/v1/profiles/{user}",
        json={"bio": "still me", "username": "KIM.TWO"},
        headers={**bearer(user), "Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200 and answer.json()["bio"] == "still me"


@pytest.mark.parametrize("name", ["admin", "Support", "PROFILESTORE", "www", "noreply"])
async def test_built_in_reserved_names_are_refused(client: httpx.AsyncClient, name: str) -> None:
    user = uuid.uuid4()
    answer = await client.put(f"/v1/profiles/{user}", json={"username": name}, headers=bearer(user))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "username_reserved"


async def test_an_operator_file_extends_the_reserved_names(
    settings: Settings, tmp_path: Path
) -> None:
    names = tmp_path / "reserved.txt"
    names.write_text("# our brand\nAcmeCorp\n\nacme.help  # support desk\n", encoding="utf-8")
    configured = settings.model_copy(update={"reserved_usernames_file": names})
    async with client_for(configured) as client:
        for name in ("acmecorp", "Acme.Help", "admin"):
            user = uuid.uuid4()
            body = {"username": name}
            answer = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
            assert answer.status_code == 422, name
        await create(client, "acme.fan")


async def test_settings_turn_the_rules_off(settings: Settings) -> None:
    configured = settings.model_copy(update={"username_hold_days": 0, "username_change_days": 0})
    async with client_for(configured) as client:
        user = await create(client, "free.one")
        assert (await rename(client, user, "free.two")).status_code == 200
        assert (await rename(client, user, "free.three")).status_code == 200
        await create(client, "free.one")


async def test_deleting_the_profile_releases_its_holds(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await create(client, "max.old")
    assert (await rename(client, owner, "max.new")).status_code == 200
    assert (await client.delete(f"/v1/profiles/{owner}", headers=bearer(owner))).status_code == 204
    async with app.state.db.read_session() as session:
        assert await session.get(UsernameHold, (owner, "max.old")) is None
        assert await session.get(UsernameChange, owner) is None
    await create(client, "max.old")


async def test_erasure_releases_the_holds(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner = await create(client, "eve.old")
    assert (await rename(client, owner, "eve.new")).status_code == 200
    erased = await client.post(f"/v1/profiles/{owner}/erase", headers=bearer(owner))
    assert erased.status_code == 200, erased.text
    async with app.state.db.read_session() as session:
        assert await session.get(UsernameHold, (owner, "eve.old")) is None
        assert await session.get(UsernameChange, owner) is None
    await create(client, "eve.old")
