"""`profilestore serve` as a real process on the embedded default, a token from
`profilestore token`, and a profile round trip over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("server did not come up")


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFILESTORE_")}
    env["PROFILESTORE_DATA_DIR"] = str(tmp_path / "var")
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "profilestore"), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, server)
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
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    output = log_path.read_text()
    assert "development_auth_mode" in output
    assert '"route":"/v1/profiles/{user_id}"' in output
    assert minted.stdout.strip() not in output
    assert (tmp_path / "var" / "profilestore.db").exists()
    assert (tmp_path / "var" / "dev-jwt-secret").stat().st_mode & 0o077 == 0
