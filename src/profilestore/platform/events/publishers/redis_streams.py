"""Redis Streams: one ``XADD`` per event (fields ``id``, ``key``, ``type``, ``body``), a batch in
one pipelined round trip; Redis applies them in order. Redis does not dedupe: consumers do."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.events.publishers import query_options, without_query


class RedisStreamsPublisher:
    name = "redis"

    def __init__(self, url: str) -> None:
        options = query_options(url)
        self.stream = options.get("stream", "profilestore.events")
        self.maxlen = int(options["maxlen"]) if "maxlen" in options else None
        self._redis = Redis.from_url(without_query(url), socket_timeout=5, socket_connect_timeout=2)

    async def connect(self) -> None:
        await self.ping()

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    fields: dict[str | bytes, bytes | str] = {
                        "id": event.id,
                        "key": event.key,
                        "type": event.type,
                        "body": event.body,
                    }
                    pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise PublishError(f"Redis publish failed: {exc!r}") from exc

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise PublishError(f"Redis unavailable: {exc!r}") from exc

    async def close(self) -> None:
        return None
