"""Garbage-collector pauses, measured (``profilestore_gc_pause_seconds``) and made short.

A full (generation 2) collection walks every object the process holds: the framework, the
models and the SQL metadata loaded at start-up are most of them, and never garbage. So once
the app is up, ``freeze()`` moves them to the permanent generation (``gc.freeze``), and later
full collections only walk what serving allocated (bench/README.md has the before/after)."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

GC_PAUSE_SECONDS = Histogram(
    "profilestore_gc_pause_seconds",
    "Garbage-collector pauses by generation",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
)
_started: list[float] = []
_children = [GC_PAUSE_SECONDS.labels(str(generation)) for generation in range(3)]


def _measure(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        _children[info["generation"]].observe(time.perf_counter() - _started.pop())


def measure_pauses() -> None:
    """Record every collection's pause (idempotent)."""
    if _measure not in gc.callbacks:
        gc.callbacks.append(_measure)


def freeze() -> None:
    """Collect once, then exempt everything alive now from later collections."""
    gc.collect()
    gc.freeze()
