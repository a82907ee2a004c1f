"""RabbitMQ: a durable topic exchange, routing key = event type, persistent messages, and
publisher confirms (each publish returns once the broker confirmed it)."""

from __future__ import annotations

from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange
from aio_pika.exceptions import AMQPError

from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.events.publishers import query_options, without_query


class RabbitMqPublisher:
    name = "rabbitmq"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.exchange_name = query_options(url).get("exchange", "profilestore")
        self.url = without_query(url)
        self.timeout = timeout
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        try:
            self._connection = await aio_pika.connect(self.url, timeout=self.timeout)
            channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except (AMQPError, OSError, TimeoutError) as exc:
            await self.close()
            raise PublishError(f"RabbitMQ unavailable: {exc!r}") from exc

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        if self._exchange is None or self._connection is None or self._connection.is_closed:
            await self.connect()
        assert self._exchange is not None
        try:
            for event in events:
                message = aio_pika.Message(
                    event.body,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event.id,
                    content_type="application/cloudevents+json",
                    headers={"key": event.key},
                )
                await self._exchange.publish(message, routing_key=event.type, timeout=self.timeout)
        except (AMQPError, OSError, TimeoutError) as exc:
            await self.close()
            raise PublishError(f"RabbitMQ publish failed: {exc!r}") from exc

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            await self.connect()

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except (AMQPError, OSError, TimeoutError):
                return
