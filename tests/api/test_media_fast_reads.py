"""The media fast reads answer exactly as their routes do, for every caller and path, and
serve the plain reads themselves (they only ever skip work)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest

from profilestore.domains.media import fast
from profilestore.settings import Settings
from tests.api.test_social import make_user
from tests.support import ADMIN, SERVICE, bearer, client_for


async def test_fast_and_framework_answers_are_the_same(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str] = []
    for name in ("continue_watching_body", "watchlist_body", "resume_body"):
        real = getattr(fast, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            answer = await _real(*args, **kw)
            served.append(_name)
            return answer

        monkeypatch.setattr(fast, name, counted)  # the fast path's calls only: routes use theirs
    owner, stranger = await make_user(client), await make_user(client)
    me = bearer(owner)
    for video in ("a", "b"):
        await client.post(f"/v1/profiles/{owner}/watchlist", json={"video_id": video}, headers=me)
    beat = {"video_id": "film", "position_seconds": 40, "duration_seconds": 100}
    assert (await client.post(f"/v1/profiles/{owner}/history", json=beat, headers=me)).is_success
    callers = {
        "owner": me,
        "stranger": bearer(stranger),
        "admin": ADMIN,
        "service": SERVICE,
        "nobody": bearer(uuid.uuid4()),
    }
    ghost = uuid.uuid4()
    paths = [
        f"/v1/profiles/{target}/{rest}"
        for target in (owner, ghost)
        for rest in ("continue-watching", "watchlist", "resume/film", "resume/never")
    ] + [f"/v1/profiles/{owner}/resume/bad%20id", "/v1/profiles/not-a-uuid/watchlist"]
    async with (
        client_for(settings) as quick,
        client_for(settings.model_copy(update={"fast_reads_enabled": False})) as slow,
    ):
        for (name, caller), path in itertools.product(callers.items(), paths):
            for _ in range(2):  # the second read finds the cache filled
                fast_answer = await quick.get(path, headers=caller)
                slow_answer = await slow.get(path, headers=caller)
                assert fast_answer.status_code == slow_answer.status_code, (name, path)
                if fast_answer.is_success:
                    assert fast_answer.content == slow_answer.content, (name, path)
                    assert fast_answer.headers["content-type"] == "application/json"
                else:
                    assert fast_answer.json()["type"] == slow_answer.json()["type"], (name, path)
    expected = {"continue_watching_body", "watchlist_body", "resume_body"}
    assert set(served) == expected
    # owner, admin and service, twice each, on the owner's 4 paths (resume/never: read, then
    # left to the route's 404); the ghost's reads fail inside (no profile) and are not counted
    assert len(served) == 3 * 4 * 2
