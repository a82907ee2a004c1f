"""Fast reads answer exactly as the routes do: the same status, body and ETag (and 304) for
every caller, target and conditional header, blocks applied; they only ever skip work."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from profilestore.domains.profiles import fast
from profilestore.settings import Settings
from tests.support import ADMIN, SERVICE, bearer, client_for


async def test_fast_and_framework_answers_are_the_same(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[int] = []
    real = fast.answer

    async def counted(*args: Any) -> Any:
        answer = await real(*args)
        if answer is not None:
            served.append(answer.status_code)
        return answer

    monkeypatch.setattr(fast, "answer", counted)
    owner, reader, blocker, ghost = (uuid.uuid4() for _ in range(4))
    for user in (owner, reader, blocker):
        body = {"username": f"f{user.hex[:12]}", "timezone": "Europe/Berlin"}
        assert (
            await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
        ).is_success
    assert (
        await client.put(f"/v1/profiles/{blocker}/blocks/{reader}", headers=bearer(blocker))
    ).is_success
    full_tag = (await client.get(f"/v1/profiles/{owner}", headers=ADMIN)).headers["etag"]
    public_tag = (await client.get(f"/v1/profiles/{owner}", headers=bearer(reader))).headers["etag"]

    callers = {"owner": bearer(owner), "reader": bearer(reader), "admin": ADMIN, "service": SERVICE}
    paths = [f"/v1/profiles/{target}" for target in (owner, blocker, ghost)] + ["/v1/me"]
    conditions = [
        {},
        {"If-None-Match": full_tag},
        {"If-None-Match": public_tag},
        {"If-None-Match": '"x"'},
    ]
    slow_settings = settings.model_copy(update={"fast_reads_enabled": False})
    async with client_for(slow_settings) as slow:
        for (name, caller), path, condition in itertools.product(
            callers.items(), paths, conditions
        ):
            headers = {**caller, **condition}
            for _ in range(2):  # the second read finds the near cache filled
                fast_answer = await client.get(path, headers=headers)
                slow_answer = await slow.get(path, headers=headers)
                case = (name, path, condition)
                assert fast_answer.status_code == slow_answer.status_code, case
                assert fast_answer.headers.get("etag") == slow_answer.headers.get("etag"), case
                if fast_answer.status_code == 200:
                    assert fast_answer.content == slow_answer.content, case
                else:
                    assert fast_answer.status_code in (304, 404), case
    assert served.count(200) > 10 and 304 in served  # the fast path really answered
