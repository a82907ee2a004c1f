"""Presence transitions for live streams: the process that commits a transition publishes it,
and every stream of every process receives it (Redis pub/sub when configured, else this
process alone). A stream whose subscription was interrupted gets ``RESYNC`` and sends a fresh
snapshot; a stream too slow to keep up gets ``RESYNC`` instead of an unbounded queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from profilestore.platform.jsonutil import dumps, loads

log = structlog.get_logger("profilestore.presence")
RESYNC: dict[str, Any] = {"resync": True}
QUEUE_SIZE = 1000


class TransitionHub:
    def __init__(self, redis_url: str | None, prefix: str, timeout_seconds: float) -> None:
        self.channel = f"{prefix}presence:transitions"
        self._redis_url = redis_url
        self._redis = (
            Redis.from_url(redis_url, socket_timeout=timeout_seconds) if redis_url else None
        )
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, user_id: uuid.UUID, status: str) -> None:
        message = {"user_id": str(user_id), "status": status}
        if self._redis is None:
            self._deliver(message)
            return
        await self._redis.publish(self.channel, dumps(message))

    def _deliver(self, message: dict[str, Any]) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                _replace_with_resync(queue)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        if self._redis_url is not None and (self._listener is None or self._listener.done()):
            self._listener = asyncio.create_task(self._listen())
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def _listen(self) -> None:
        assert self._redis_url is not None
        while self._subscribers:
            redis = Redis.from_url(self._redis_url)
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while self._subscribers:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._deliver(loads(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("presence_transitions_lost", error=type(exc).__name__)
                self._deliver(RESYNC)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                    await redis.aclose()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()


def _replace_with_resync(queue: asyncio.Queue[dict[str, Any]]) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(RESYNC)
