"""Several worker processes: with Redis they share the cache and its invalidation channel, so a
change made through one worker is seen at once by all, near caches included (issue 9: 14 of 20
block checks were stale with a 300 s per-process cache). Without Redis, `serve` refuses
several workers, and an app told it runs in several processes caches nothing."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from profilestore.platform.cache import build_cache
from profilestore.settings import Settings
from tests.serving import BIN, running_server, service_env
from tests.support import SERVICE, TEST_SECRET, bearer

CHECKS = 20
REDIS_URL = "redis://127.0.0.1:6379/0"


def test_which_tiers_each_deployment_gets(tmp_path: Path) -> None:
    single = build_cache(Settings(data_dir=tmp_path))
    assert single.name == "near" and not single.near.bypassed  # type: ignore[union-attr]
    several = build_cache(Settings(data_dir=tmp_path, serve_workers=2))
    assert several.name == "none"
    shared = build_cache(Settings(data_dir=tmp_path, redis_url=REDIS_URL, serve_workers=2))
    assert shared.name == "near+redis"
    assert shared.near is not None and shared.near.bypassed  # until the channel is up


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    env = service_env(data_dir=str(tmp_path / "var"), jwt_secret=TEST_SECRET)
    done = subprocess.run(
        [str(BIN / "profilestore"), "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "PROFILESTORE_REDIS_URL" in done.stderr


@pytest.mark.slow
def test_changes_are_seen_by_every_worker_at_once(tmp_path: Path, redis_prefix: str) -> None:
    env = service_env(
        data_dir=str(tmp_path / "var"),
        jwt_secret=TEST_SECRET,
        redis_url=REDIS_URL,
        cache_prefix=redis_prefix,
        rate_limit_enabled="false",
    )
    with running_server(env, tmp_path, extra_args=["--workers", "2"]) as (base, _):
        a, b = uuid.uuid4(), uuid.uuid4()
        for user in (a, b):
            body = {"username": f"w{user.hex[:10]}"}
            put = httpx.put(f"{base}/v1/profiles/{user}", json=body, headers=bearer(user))
            assert put.status_code == 201
        check = f"{base}/v1/blocks/check?a={a}&b={b}"
        profile = f"{base}/v1/profiles/{a}"
        # Fresh connections, so both workers answer (and fill their near caches).
        for _ in range(CHECKS):
            assert httpx.get(check, headers=SERVICE).json()["blocked"] is False
            assert httpx.get(profile, headers=bearer(b)).status_code == 200
        blocked = httpx.put(f"{base}/v1/profiles/{a}/blocks/{b}", headers=bearer(a))
        assert blocked.status_code == 201
        renamed = httpx.patch(
            profile,
            json={"display_name": "Renamed"},
            headers={**bearer(a), "Content-Type": "application/merge-patch+json"},
        )
        assert renamed.status_code == 200
        checks = [httpx.get(check, headers=SERVICE).json()["blocked"] for _ in range(CHECKS)]
        assert checks == [True] * CHECKS
        hidden = [httpx.get(profile, headers=bearer(b)).status_code for _ in range(CHECKS)]
        assert hidden == [404] * CHECKS
        names = [httpx.get(profile, headers=SERVICE).json()["display_name"] for _ in range(CHECKS)]
        assert names == ["Renamed"] * CHECKS


@pytest.mark.slow
def test_media_reads_are_never_stale_across_workers(tmp_path: Path, redis_prefix: str) -> None:
    """Watchlist, continue-watching and resume reads are cached in both workers' near caches and
    in Redis; each write, through either worker, is seen by the next read through any."""
    env = service_env(
        data_dir=str(tmp_path / "var"),
        jwt_secret=TEST_SECRET,
        redis_url=REDIS_URL,
        cache_prefix=redis_prefix,
        rate_limit_enabled="false",
    )
    with running_server(env, tmp_path, extra_args=["--workers", "2"]) as (base, _):
        user = uuid.uuid4()
        me = bearer(user)
        root = f"{base}/v1/profiles/{user}"
        assert httpx.put(root, json={"username": f"m{user.hex[:10]}"}, headers=me).is_success
        watchlist: list[str] = []
        positions: dict[str, float] = {}
        for step in range(40):
            video = f"v{step % 6}"
            if step % 3 == 0:
                if video in watchlist:
                    assert httpx.delete(f"{root}/watchlist/{video}", headers=me).status_code == 204
                    watchlist.remove(video)
                else:
                    added = httpx.post(f"{root}/watchlist", json={"video_id": video}, headers=me)
                    assert added.status_code == 201
                    watchlist.insert(0, video)
            else:
                positions[video] = step * 10.0
                body = {"video_id": video, "position_seconds": step * 10, "duration_seconds": 1000}
                assert httpx.post(f"{root}/history", json=body, headers=me).json()["applied"]
            for _ in range(3):  # fresh connections: either worker answers
                listed = httpx.get(f"{root}/watchlist", headers=me).json()["items"]
                assert [item["video_id"] for item in listed] == watchlist, step
                resume = httpx.get(f"{root}/resume/{video}", headers=me)
                if video in positions:
                    assert resume.json()["position_seconds"] == positions[video], step
                rows = httpx.get(f"{root}/continue-watching", headers=me).json()["items"]
                assert {row["video_id"]: row["position_seconds"] for row in rows} == positions
