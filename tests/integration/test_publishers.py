"""Each publisher against the real broker on this machine: events acknowledged and consumed by a
test subscriber with the right key, type, id and body, in order. Kafka: no broker here."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import nats
import pytest
from redis.asyncio import Redis

from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.events.publishers import create_publisher
from profilestore.platform.events.publishers.kafka import KafkaPublisher, producer_config
from profilestore.platform.events.publishers.nats import NatsPublisher
from profilestore.platform.jsonutil import dumps
from tests.support import skip_or_fail

KEYS = [str(uuid.uuid4()) for _ in range(3)]


def batch(count: int = 50) -> list[OutgoingEvent]:
    events = []
    for position in range(1, count + 1):
        key = KEYS[position % len(KEYS)]
        event_id = str(uuid.uuid4())
        event_type = (
            "profilestore.profiles.ProfileUpdated"
            if position % 2
            else "profilestore.social.UserBlocked"
        )
        body = dumps({"id": event_id, "type": event_type, "subject": key, "data": {"n": position}})
        events.append(
            OutgoingEvent(id=event_id, key=key, type=event_type, body=body, position=position)
        )
    return events


async def reachable(publisher: Any, what: str) -> None:
    try:
        await publisher.connect()
    except PublishError:
        skip_or_fail(f"{what} is not reachable")


@pytest.fixture
async def nats_stream() -> AsyncIterator[str]:
    name = f"PSTEST_{uuid.uuid4().hex[:10].upper()}"
    yield name
    try:
        connection = await nats.connect("nats://127.0.0.1:4222", connect_timeout=2)
    except Exception:
        return
    with contextlib.suppress(Exception):  # the test may have failed before creating it
        await connection.jetstream().delete_stream(name)
    await connection.close()


async def test_nats_jetstream(nats_stream: str) -> None:
    prefix = f"pstest{uuid.uuid4().hex[:8]}"
    publisher = NatsPublisher(f"nats://127.0.0.1:4222?stream={nats_stream}&subject_prefix={prefix}")
    await reachable(publisher, "NATS")
    events = batch()
    try:
        await publisher.publish(events)
        await publisher.publish(events)  # same ids again: JetStream drops the duplicates
    finally:
        await publisher.close()
    connection = await nats.connect("nats://127.0.0.1:4222", connect_timeout=2)
    try:
        js = connection.jetstream()
        info = await js.stream_info(nats_stream)
        assert info.state.messages == len(events)
        stored = [await js.get_msg(nats_stream, seq) for seq in range(1, len(events) + 1)]
    finally:
        await connection.close()
    for event, message in zip(events, stored, strict=True):
        assert message.data == event.body
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == event.id
        assert message.headers["Profilestore-Key"] == event.key
        assert message.subject == f"{prefix}.{event.type.removeprefix('profilestore.')}"


async def test_redis_streams() -> None:
    stream = f"pstest.{uuid.uuid4().hex}"
    publisher = create_publisher(f"redis://127.0.0.1:6379/0?stream={stream}&maxlen=10000")
    await reachable(publisher, "Redis")
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    events = batch()
    try:
        await publisher.publish(events)
        entries = await redis.xrange(stream)
    finally:
        await redis.delete(stream)
        await redis.aclose()
        await publisher.close()
    assert [fields[b"id"].decode() for _, fields in entries] == [e.id for e in events]
    for event, (_, fields) in zip(events, entries, strict=True):
        assert fields[b"key"].decode() == event.key
        assert fields[b"type"].decode() == event.type
        assert fields[b"body"] == event.body


async def test_rabbitmq() -> None:
    exchange = f"pstest.{uuid.uuid4().hex}"
    publisher = create_publisher(f"amqp://guest:guest@127.0.0.1:5672/?exchange={exchange}")
    await reachable(publisher, "RabbitMQ")
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="profilestore.#")
        events = batch()
        await publisher.publish(events)
        received: list[aio_pika.abc.AbstractIncomingMessage] = []
        deadline = time.monotonic() + 10
        while len(received) < len(events) and time.monotonic() < deadline:
            message = await queue.get(timeout=5, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            received.append(message)
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()
        await publisher.close()
    assert [m.message_id for m in received] == [e.id for e in events]
    for event, message in zip(events, received, strict=True):
        assert message.body == event.body
        assert message.routing_key == event.type
        assert message.headers["key"] == event.key
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_publish_fails_fast_when_the_broker_is_unreachable() -> None:
    for url in ("nats://127.0.0.1:1", "redis://127.0.0.1:1/0", "amqp://guest:guest@127.0.0.1:1/"):
        publisher = create_publisher(url)
        started = time.monotonic()
        with pytest.raises(PublishError):
            await publisher.publish(batch(2))
        assert time.monotonic() - started < 8, url
        await publisher.close()


class FakeKafkaProducer:
    """Stands in for AIOKafkaProducer: no Kafka broker runs on these machines."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> Any:
        if self.fail:
            from aiokafka.errors import KafkaConnectionError

            raise KafkaConnectionError("down")
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def stop(self) -> None:
        return None


async def test_kafka_messages_and_configuration() -> None:
    config = producer_config("kafka://k1:9092,k2:9092?topic=t")
    assert config["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    fake = FakeKafkaProducer()
    publisher = KafkaPublisher("kafka://k1:9092?topic=profile-events", producer=fake)
    events = batch(5)
    await publisher.publish(events)
    assert [m["key"] for m in fake.sent] == [e.key.encode() for e in events]
    assert [m["value"] for m in fake.sent] == [e.body for e in events]
    assert {m["topic"] for m in fake.sent} == {"profile-events"}
    assert fake.sent[0]["headers"] == [
        ("ce_id", events[0].id.encode()),
        ("ce_type", events[0].type.encode()),
    ]
    with pytest.raises(PublishError):
        await KafkaPublisher("kafka://k1:9092", producer=FakeKafkaProducer(fail=True)).publish(
            events
        )


async def test_kafka_unreachable_cluster_fails_within_bounds() -> None:
    publisher = KafkaPublisher("kafka://127.0.0.1:1?topic=t", connect_timeout=3)
    started = time.monotonic()
    with pytest.raises(PublishError):
        await publisher.publish(batch(1))
    assert time.monotonic() - started < 15


def test_factory_rejects_unknown_schemes() -> None:
    assert create_publisher("nats://h:4222").name == "nats"
    assert create_publisher("rediss://h:6379/0").name == "redis"
    assert create_publisher("amqps://u:p@h/").name == "rabbitmq"
    assert create_publisher("kafka://h:9092").name == "kafka"
    with pytest.raises(ValueError, match="unsupported"):
        create_publisher("mqtt://h:1883")
