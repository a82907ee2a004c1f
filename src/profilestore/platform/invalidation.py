"""The invalidation channel: every process subscribes to the Redis channel on which writers
publish the keys they dropped, and drops them from its near cache. The near cache serves only
while this subscription is known to be alive: it starts bypassed, resumes (flushed) once the
subscription is confirmed, and is flushed and bypassed again as soon as the connection fails
or stays silent past two heartbeats (a hung Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from profilestore.platform.cache import Cache

log = structlog.get_logger("profilestore.cache")


class ChannelLost(Exception):
    """The subscription stopped answering."""


class InvalidationListener:
    def __init__(self, cache: Cache, heartbeat_seconds: float = 1.0) -> None:
        if cache.shared is None or cache.near is None:
            raise ValueError("an invalidation listener needs a near and a shared tier")
        self.cache = cache
        self.near = cache.near
        self.shared = cache.shared
        self.heartbeat_seconds = heartbeat_seconds
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.05
        while not stop.is_set():
            try:
                await self._listen(stop)
                backoff = 0.05
            except (TimeoutError, RedisError, OSError, ChannelLost) as exc:
                self._lost(type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 2.0)
        self._lost("stopped")

    def _lost(self, reason: str) -> None:
        if not self.near.bypassed:
            log.warning("invalidation_channel_lost", reason=reason)
        self.connected.clear()
        self.near.bypass()

    async def _listen(self, stop: asyncio.Event) -> None:
        timeout = self.shared.timeout_seconds
        redis = Redis.from_url(self.shared.url, socket_timeout=None, socket_connect_timeout=timeout)
        pubsub = redis.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(self.shared.channel), timeout)
            await self._confirmed(pubsub)
            self.near.resume()
            self.connected.set()
            log.info("invalidation_channel_up", channel=self.shared.channel)
            await self._receive(pubsub, stop)
        finally:
            self.near.bypass()
            self.connected.clear()
            try:
                await asyncio.wait_for(pubsub.aclose(), timeout)
                await asyncio.wait_for(redis.aclose(), timeout)
            except (TimeoutError, RedisError, OSError):
                pass

    async def _confirmed(self, pubsub: object) -> None:
        timeout = self.shared.timeout_seconds
        deadline = time.monotonic() + timeout * 4
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=timeout)  # type: ignore[attr-defined]
            if message is not None and message["type"] == "subscribe":
                return
        raise ChannelLost("no subscription confirmation")

    async def _receive(self, pubsub: object, stop: asyncio.Event) -> None:
        heard = time.monotonic()
        pinged = heard
        while not stop.is_set():
            message = await pubsub.get_message(timeout=self.heartbeat_seconds / 2)  # type: ignore[attr-defined]
            now = time.monotonic()
            if message is not None:
                heard = now
                if message["type"] == "message":
                    self._dropped(message["data"])
            if now - heard > 2 * self.heartbeat_seconds + self.shared.timeout_seconds:
                raise ChannelLost("no answer to heartbeats")
            if now - pinged >= self.heartbeat_seconds:
                await asyncio.wait_for(pubsub.ping(), self.shared.timeout_seconds)  # type: ignore[attr-defined]
                pinged = now

    def _dropped(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        self.cache.dropped_elsewhere(text.split("\n"))
