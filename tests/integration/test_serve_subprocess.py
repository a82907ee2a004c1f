"""`profilestore serve` as a real process on the embedded default, a token from
`profilestore token`, and a profile round trip over real HTTP."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.serving import BIN, running_server, service_env


def wait_for_feed(base: str, headers: dict[str, str]) -> list[dict[str, object]]:
    """The in-process relay (on by default in embedded mode) publishes to the outbox feed."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items: list[dict[str, object]] = httpx.get(f"{base}/v1/events", headers=headers).json()[
            "items"
        ]
        if items:
            return items
        time.sleep(0.1)
    raise AssertionError("the in-process relay published nothing within 10 s")


@pytest.mark.slow
def test_serve_embedded_round_trip(tmp_path: Path) -> None:
    env = service_env(data_dir=str(tmp_path / "var"))
    with running_server(env, tmp_path) as (base, log_path):
        user = uuid.uuid4()
        minted = subprocess.run(
            [str(BIN / "profilestore"), "token", "--sub", str(user)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        created = httpx.put(
            f"{base}/v1/profiles/{user}",
            json={"username": "roundtrip", "bio": "over HTTP"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        read = httpx.get(f"{base}/v1/me", headers=headers)
        assert read.status_code == 200 and read.json()["bio"] == "over HTTP"
        assert read.headers["etag"] == '"1"' and read.headers["x-request-id"]
        assert httpx.get(f"{base}/v1/me").status_code == 401
        assert httpx.get(f"{base}/health/ready").json()["database"] == "ok"
        admin = subprocess.run(
            [str(BIN / "profilestore"), "token", "--sub", str(uuid.uuid4()), "--role", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        feed = wait_for_feed(base, {"Authorization": f"Bearer {admin.stdout.strip()}"})
        assert [item["event"]["type"] for item in feed] == ["profilestore.profiles.ProfileCreated"]
        assert feed[0]["event"]["subject"] == str(user)
    output = log_path.read_text()
    assert "development_auth_mode" in output
    assert '"route":"/v1/profiles/{user_id}"' in output
    assert minted.stdout.strip() not in output
    assert (tmp_path / "var" / "profilestore.db").exists()
    assert (tmp_path / "var" / "dev-jwt-secret").stat().st_mode & 0o077 == 0
