"""Faults with real processes and real brokers: a relay SIGKILLed mid-run, a broker that stops
and comes back. Nothing may be lost; duplicates stay within one batch; per-user order holds."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from profilestore.app import create_app
from profilestore.migrations import runner
from profilestore.platform.db import Database
from profilestore.platform.events.outbox import OutboxRow, emit
from profilestore.platform.events.relay import Relay, RelayConfig, build_publisher
from profilestore.platform.jsonutil import loads
from profilestore.settings import Settings
from tests.serving import free_port
from tests.support import TEST_SECRET, bearer, postgres_database, skip_or_fail

BIN = Path(sys.executable).parent
NATS_SERVER = "/usr/sbin/nats-server"
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own (the relay process and the test share it)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"
        runner.upgrade(url)
        yield url
        return
    with postgres_database() as url:
        yield url


async def unpublished(db: Database) -> int:
    async with db.read_session() as session:
        statement = select(func.count()).where(OutboxRow.published_at.is_(None))
        return int((await session.execute(statement)).scalar() or 0)


async def write_events(db: Database, users: list[uuid.UUID], per_user: int) -> None:
    for n in range(1, per_user + 1):
        async with db.write_session() as session:
            for user in users:
                emit(
                    session,
                    event_type="profilestore.test.Numbered",
                    user_id=user,
                    aggregatetype="test",
                    data={"n": n},
                )
            await session.commit()


def assert_complete_and_ordered(entries: list[dict[str, Any]], expected: int, batch: int) -> None:
    """Every event at least once, duplicates within one batch, per-user order of first arrival."""
    ids = [entry["id"] for entry in entries]
    assert len(set(ids)) == expected, f"lost {expected - len(set(ids))} events"
    assert len(ids) - expected <= batch, f"{len(ids) - expected} duplicates > batch {batch}"
    first_seen: dict[str, list[int]] = {}
    seen: set[str] = set()
    for entry in entries:
        if entry["id"] in seen:
            continue
        seen.add(entry["id"])
        first_seen.setdefault(entry["subject"], []).append(entry["data"]["n"])
    for numbers in first_seen.values():
        assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))


async def redis_entries(redis: Redis, stream: str) -> list[dict[str, Any]]:
    return [loads(fields[b"body"]) for _, fields in await redis.xrange(stream)]


def start_relay(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "profilestore"), "relay"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def test_sigkilled_relay_loses_nothing(fresh_url: str, tmp_path: Path) -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await redis.ping()
    except Exception:
        skip_or_fail("Redis is not reachable")
    stream, batch = f"pstest.faults.{uuid.uuid4().hex}", 50
    db = Database(Settings(database_url=fresh_url, data_dir=tmp_path))
    users = [uuid.uuid4() for _ in range(20)]
    await write_events(db, users, per_user=100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFILESTORE_")}
    env.update(
        {
            "PROFILESTORE_DATABASE_URL": fresh_url,
            "PROFILESTORE_EVENTS_URL": f"redis://127.0.0.1:6379/0?stream={stream}",
            "PROFILESTORE_RELAY_BATCH_SIZE": str(batch),
            "PROFILESTORE_RELAY_LEASE_SECONDS": "2",
            "PROFILESTORE_JWT_SECRET": TEST_SECRET,
            "PROFILESTORE_DATA_DIR": str(tmp_path),
            "PROFILESTORE_LOG_LEVEL": "WARNING",
        }
    )
    log = tmp_path / "relay.log"
    relay = start_relay(env, log)
    try:
        deadline = time.monotonic() + 60
        while await redis.xlen(stream) < 600 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        assert 0 < await unpublished(db) < 2000, "the kill should land mid-run"
        relay = start_relay(env, log)  # a new holder: takes over once the dead one's lease expires
        deadline = time.monotonic() + 90
        while await unpublished(db) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await unpublished(db) == 0, log.read_text()[-2000:]
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=15) == 0  # a clean stop on SIGTERM
        assert_complete_and_ordered(await redis_entries(redis, stream), expected=2000, batch=batch)
    finally:
        if relay.poll() is None:
            relay.kill()
        await redis.delete(stream)
        await redis.aclose()
        await db.dispose()


class NatsServer:
    """A NATS server of the test's own, so it can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.store = tempfile.mkdtemp(prefix="pstest-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    if not Path(NATS_SERVER).exists():
        skip_or_fail("nats-server is not installed")
    server = NatsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def jetstream_entries(port: int, stream: str) -> list[dict[str, Any]]:
    import nats

    connection = await nats.connect(f"nats://127.0.0.1:{port}", connect_timeout=2)
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        return [
            loads((await js.get_msg(stream, seq)).data or b"{}")
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
    finally:
        await connection.close()


async def test_broker_outage_loses_nothing(nats_server: NatsServer, settings: Settings) -> None:
    stream = f"PSTEST_{uuid.uuid4().hex[:10].upper()}"
    url = f"nats://127.0.0.1:{nats_server.port}?stream={stream}"
    app = create_app(settings.model_copy(update={"events_url": url}))
    relay = Relay(
        app.state.db,
        build_publisher(url),
        RelayConfig(batch_size=20, poll_seconds=0.02, backoff_initial=0.05, backoff_max=0.5),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    users = [uuid.uuid4() for _ in range(5)]
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def write_round(n: int) -> None:
                for user in users:
                    if n == 1:
                        r = await client.put(
                            f"/v1/profiles/{user}",
                            json={"username": f"o{user.hex[:10]}"},
                            headers=bearer(user),
                        )
                    else:
                        r = await client.patch(
                            f"/v1/profiles/{user}", json={"bio": str(n)}, headers=bearer(user)
                        )
                    assert r.status_code in (200, 201)

            await write_round(1)
            deadline = time.monotonic() + 20
            while await unpublished(app.state.db) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await unpublished(app.state.db) == 0
            nats_server.stop()
            for n in range(2, 6):
                await write_round(n)  # API writes keep succeeding while the broker is down
            await asyncio.sleep(0.5)
            assert await unpublished(app.state.db) == 20  # the backlog grows, nothing is dropped
            metrics = (await client.get("/metrics")).text
            assert "profilestore_outbox_backlog 20.0" in metrics
            nats_server.start()
            deadline = time.monotonic() + 30
            while await unpublished(app.state.db) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await unpublished(app.state.db) == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await app.state.db.dispose()
    entries = await jetstream_entries(nats_server.port, stream)
    renumbered = [{**e, "data": {"n": e["data"]["version"]}} for e in entries]
    assert_complete_and_ordered(renumbered, expected=25, batch=20)
    assert len(entries) == 25  # JetStream drops redeliveries by Nats-Msg-Id
