"""GET /v1/profiles/{user_id}/export (both databases): every row every domain holds of the
user, and nobody else's, streamed as one JSON document; every user-keyed table of every
domain is exported (a table added later without an export fails here); only the user and
admins may export."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from profilestore.domains.registry import DOMAINS
from profilestore.migrations.runner import target_metadata
from profilestore.platform.export import PLATFORM_TABLES
from tests.api.test_hub import fill_every_domain
from tests.api.test_social import make_user
from tests.support import ADMIN, SERVICE, bearer


def test_every_user_keyed_table_is_exported_by_exactly_one_domain() -> None:
    keyed = {t.name for t in target_metadata().sorted_tables if "user_id" in t.columns}
    exported = [name for domain in DOMAINS for name in domain.export_tables]
    assert len(exported) == len(set(exported)), exported
    assert keyed == set(exported) | set(PLATFORM_TABLES)


async def export(client: httpx.AsyncClient, user: uuid.UUID, headers: dict[str, str]) -> Any:
    answer = await client.get(f"/v1/profiles/{user}/export", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


async def test_the_export_holds_every_row_of_the_user_and_only_theirs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    other = await make_user(client)
    await fill_every_domain(client, other)
    document = await export(client, user, bearer(user))
    assert document["user_id"] == str(user) and document["format"] == 1
    sections = document["sections"]
    assert set(sections) >= {"profiles", "social", "media", "nutrition", "movement"}
    tables = target_metadata().tables
    async with app.state.db.read_session() as session:
        for section in sections.values():
            for name, rows in section.items():
                table = tables[name]
                count = select(func.count()).select_from(table).where(table.c.user_id == user)
                assert len(rows) == (await session.execute(count)).scalar_one(), name
                assert all(row["user_id"] == str(user) for row in rows), name
    assert sections["profiles"]["profiles"][0]["username"]
    assert sections["nutrition"]["nutrition_body"][0]["height_cm"] == 170
    assert sections["nutrition"]["nutrition_calories"][0]["kind"] == "consumed"
    assert sections["movement"]["movement_profiles"][0]["goals"] == ["strength"]
    assert sections["social"]["contacts"] and sections["media"]["media_watchlist"]
    assert str(other) not in str(sections["nutrition"])


async def test_a_user_with_nothing_gets_empty_sections(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    document = await export(client, user, bearer(user))
    assert all(rows == [] for s in document["sections"].values() for rows in s.values())


@pytest.mark.parametrize("caller", ["stranger", "service"])
async def test_only_the_user_and_admins_may_export(client: httpx.AsyncClient, caller: str) -> None:
    user = await make_user(client)
    headers = bearer(uuid.uuid4()) if caller == "stranger" else SERVICE
    refused = await client.get(f"/v1/profiles/{user}/export", headers=headers)
    assert refused.status_code == 404
    assert (await export(client, user, ADMIN))["sections"]["profiles"]["profiles"]
