"""What the relay hands a broker, and what every broker publisher provides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One outbox row ready to publish: ``body`` is the CloudEvents 1.0 JSON envelope."""

    id: str
    key: str
    type: str
    body: bytes
    position: int


class PublishError(Exception):
    """The broker did not acknowledge; the relay retries the batch later (with backoff)."""


class Publisher(Protocol):
    """A broker connection. ``publish`` returns only once the broker acknowledged every event,
    and sends them in the order given (the relay's order is commit order per user)."""

    name: str

    async def connect(self) -> None: ...

    async def publish(self, events: Sequence[OutgoingEvent]) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
