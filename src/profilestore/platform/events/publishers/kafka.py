"""Kafka via aiokafka: ``acks=all``, an idempotent producer, key = user id, value = the
CloudEvents envelope, headers ``ce_id`` and ``ce_type``.

No Kafka broker runs on the project's test machines: this publisher is written against
aiokafka's public API and tested without a broker (configuration, message building through an
injected producer, failing fast when the cluster cannot be reached), not end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.events.publishers import query_options


def producer_config(url: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": urlsplit(url).netloc.split(","),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "request_timeout_ms": 10_000,
    }


class KafkaPublisher:
    name = "kafka"

    def __init__(self, url: str, *, producer: Any = None, connect_timeout: float = 10.0) -> None:
        self.topic = query_options(url).get("topic", "profilestore.events")
        self.config = producer_config(url)
        self.connect_timeout = connect_timeout
        self._producer: Any = producer
        self._started = producer is not None

    async def connect(self) -> None:
        if self._started:
            return
        self._producer = AIOKafkaProducer(**self.config)
        try:
            await asyncio.wait_for(self._producer.start(), timeout=self.connect_timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self.close()
            raise PublishError(f"Kafka unavailable: {exc!r}") from exc
        self._started = True

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        await self.connect()
        try:
            pending = [
                await self._producer.send(
                    self.topic,
                    value=event.body,
                    key=event.key.encode(),
                    headers=[("ce_id", event.id.encode()), ("ce_type", event.type.encode())],
                )
                for event in events
            ]
            for delivery in pending:
                await delivery
        except (KafkaError, OSError, TimeoutError) as exc:
            raise PublishError(f"Kafka publish failed: {exc!r}") from exc

    async def ping(self) -> None:
        await self.connect()

    async def close(self) -> None:
        producer, self._producer, self._started = self._producer, None, False
        if producer is not None:
            try:
                await producer.stop()
            except (KafkaError, OSError, TimeoutError):
                return
