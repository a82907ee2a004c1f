"""NATS JetStream. Each event goes to the subject named by its type, with ``Nats-Msg-Id`` = the
event id, so JetStream drops a republished event within the stream's duplicate window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.events.publishers import query_options, without_query

DUPLICATE_WINDOW_SECONDS = 600.0
TYPE_PREFIX = "profilestore."


class NatsPublisher:
    name = "nats"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        options = query_options(url)
        self.server = without_query(url)
        self.stream = options.get("stream", "PROFILESTORE")
        self.prefix = options.get("subject_prefix", "profilestore")
        self.timeout = timeout
        self._client: Client | None = None

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}.{event_type.removeprefix(TYPE_PREFIX)}"

    async def connect(self) -> None:
        try:
            # max_reconnect_attempts=0 would mean "retry forever" in nats-py's server selection.
            self._client = await asyncio.wait_for(
                nats.connect(
                    self.server,
                    connect_timeout=2,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                ),
                timeout=self.timeout,
            )
            await self._ensure_stream()
        except (NatsError, OSError, TimeoutError) as exc:
            await self.close()
            raise PublishError(f"NATS unavailable: {exc!r}") from exc

    async def _ensure_stream(self) -> None:
        assert self._client is not None
        js = self._client.jetstream(timeout=self.timeout)
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[f"{self.prefix}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
            await js.add_stream(config)

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        if self._client is None or not self._client.is_connected:
            await self.connect()
        assert self._client is not None
        js = self._client.jetstream(timeout=self.timeout)
        try:
            for event in events:
                headers = {
                    "Nats-Msg-Id": event.id,
                    "Profilestore-Key": event.key,
                    "Content-Type": "application/cloudevents+json",
                }
                await js.publish(
                    self.subject(event.type), event.body, stream=self.stream, headers=headers
                )
        except (NatsError, OSError, TimeoutError) as exc:
            await self.close()
            raise PublishError(f"NATS publish failed: {exc!r}") from exc

    async def ping(self) -> None:
        if self._client is None or not self._client.is_connected:
            await self.connect()
        assert self._client is not None
        try:
            await self._client.flush(timeout=2)
        except (NatsError, OSError, TimeoutError) as exc:
            raise PublishError(f"NATS unavailable: {exc!r}") from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and not client.is_closed:
            try:
                await client.close()
            except (NatsError, OSError, TimeoutError):
                return
