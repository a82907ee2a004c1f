"""Several worker processes without Redis share no cache and no invalidation channel: the
in-process cache is then off, so a block made through one worker is seen at once by all
(issue 9: 14 of 20 block checks were stale with a 300 s per-process cache)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from profilestore.platform.cache import MemoryCache, NoCache, build_cache
from tests.serving import running_server, service_env
from tests.support import SERVICE, TEST_SECRET, bearer

CHECKS = 20


def test_the_in_process_cache_is_only_used_by_a_single_process() -> None:
    assert isinstance(build_cache(None, "p:", processes=1), MemoryCache)
    assert isinstance(build_cache(None, "p:", processes=2), NoCache)


@pytest.mark.slow
def test_a_block_is_seen_by_every_worker_at_once(tmp_path: Path) -> None:
    env = service_env(data_dir=str(tmp_path / "var"), jwt_secret=TEST_SECRET)
    env["PROFILESTORE_RATE_LIMIT_ENABLED"] = "false"
    workers = ["--workers", "2"]
    with running_server(env, tmp_path, extra_args=workers) as (base, log_path):
        a, b = uuid.uuid4(), uuid.uuid4()
        for user in (a, b):
            body = {"username": f"w{user.hex[:10]}"}
            put = httpx.put(f"{base}/v1/profiles/{user}", json=body, headers=bearer(user))
            assert put.status_code == 201
        check = f"{base}/v1/blocks/check?a={a}&b={b}"
        # Fresh connections, so both workers answer (and would cache "not blocked").
        assert not any(httpx.get(check, headers=SERVICE).json()["blocked"] for _ in range(CHECKS))
        blocked = httpx.put(f"{base}/v1/profiles/{a}/blocks/{b}", headers=bearer(a))
        assert blocked.status_code == 201
        answers = [httpx.get(check, headers=SERVICE).json()["blocked"] for _ in range(CHECKS)]
        assert answers == [True] * CHECKS
    assert "cache_disabled" in log_path.read_text()
