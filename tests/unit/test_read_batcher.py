"""Concurrent reads of single keys share one ``load_many`` call (``platform.batching``)."""

from __future__ import annotations

import asyncio

import pytest

from profilestore.platform.batching import ReadBatcher


class Loads:
    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail
        self.delay = delay

    async def __call__(self, keys: list[int]) -> dict[int, str]:
        self.calls.append(list(keys))
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return {key: f"v{key}" for key in keys if key % 2 == 0}


async def test_keys_asked_in_one_step_are_read_in_one_call() -> None:
    loads = Loads()
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads)
    answers = await asyncio.gather(*(batcher.get(key) for key in (2, 3, 4, 2)))
    assert answers == ["v2", None, "v4", "v2"]
    assert loads.calls == [[2, 3, 4]]


async def test_a_key_asked_alone_is_read_at_once() -> None:
    loads = Loads()
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads)
    assert await batcher.get(6) == "v6"
    assert await batcher.get(8) == "v8"
    assert loads.calls == [[6], [8]]


async def test_keys_asked_while_a_query_runs_go_in_the_next() -> None:
    loads = Loads(delay=0.05)
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads)
    first = asyncio.ensure_future(batcher.get(2))
    await asyncio.sleep(0.01)
    second = await asyncio.gather(batcher.get(4), batcher.get(6))
    assert await first == "v2" and second == ["v4", "v6"]
    assert loads.calls == [[2], [4, 6]]


async def test_batches_are_bounded() -> None:
    loads = Loads()
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads, max_batch=3)
    answers = await asyncio.gather(*(batcher.get(key) for key in range(8)))
    assert answers == [f"v{k}" if k % 2 == 0 else None for k in range(8)]
    assert loads.calls == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_a_failed_read_fails_every_caller_of_it() -> None:
    loads = Loads(fail=ConnectionError("database gone"))
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads)
    results = await asyncio.gather(batcher.get(1), batcher.get(2), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    loads.fail = None
    assert await batcher.get(2) == "v2"


async def test_a_caller_that_goes_away_does_not_hurt_the_others() -> None:
    loads = Loads(delay=0.05)
    batcher: ReadBatcher[int, str] = ReadBatcher("test", loads)
    leaving = asyncio.ensure_future(batcher.get(2))
    staying = asyncio.ensure_future(batcher.get(2))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == "v2"
    with pytest.raises(asyncio.CancelledError):
        await leaving
