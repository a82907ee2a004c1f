"""Concurrent reads of single rows share one query.

A hot read by key (``GET /v1/profiles/{id}`` on a miss) costs one database round trip, and on a
busy server most of that cost is the trip, not the row: the system calls on both sides, the
server's parse-bind-execute, the wake-ups. :class:`ReadBatcher` collects the keys asked for
while the event loop runs one step and reads them with one ``load_many`` call at the end of
that step, so 16 requests that arrive together cost one query for 16 keys.

Nothing waits for a batch to fill: a key asked for alone is read at the end of the step it
was asked in, as soon as it would have been. Freshness is unchanged: the query of a batch
starts after every request in it arrived, so it sees every write committed before any of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from prometheus_client import Histogram

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BATCH_SIZES = Histogram(
    "profilestore_read_batch_keys",
    "Keys read by one batched query, by batcher",
    ["batcher"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


class ReadBatcher(Generic[K, V]):
    """Reads keys with ``load_many`` (keys → the values found; absent keys left out), at most
    ``max_batch`` keys per call; each caller gets its own key's value, or None."""

    def __init__(
        self,
        name: str,
        load_many: Callable[[list[K]], Awaitable[dict[K, V]]],
        *,
        max_batch: int = 64,
    ) -> None:
        self._load_many = load_many
        self._max_batch = max_batch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._sizes = BATCH_SIZES.labels(name)
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._dispatch)
        self._waiting.setdefault(key, []).append(future)
        return await future

    def _dispatch(self) -> None:
        waiting, self._waiting = self._waiting, {}
        keys = list(waiting)
        for start in range(0, len(keys), self._max_batch):
            chunk = {key: waiting[key] for key in keys[start : start + self._max_batch]}
            task = asyncio.get_running_loop().create_task(self._load(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _load(self, waiting: dict[K, list[asyncio.Future[V | None]]]) -> None:
        self._sizes.observe(len(waiting))
        try:
            found = await self._load_many(list(waiting))
        except Exception as exc:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        except BaseException:
            for futures in waiting.values():
                for future in futures:
                    future.cancel()
            raise
        for key, futures in waiting.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)
