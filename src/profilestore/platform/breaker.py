"""A circuit breaker for every use of an optional dependency (Redis): after a few failures in
a row the dependency is skipped for a cool-down, so a hung server costs each request nothing
instead of a socket timeout; then one probe is let through, and success closes the circuit."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

CIRCUIT_OPEN = Gauge(
    "profilestore_circuit_open", "1 while a dependency is skipped after failures", ["dependency"]
)
CIRCUIT_TRIPS = Counter(
    "profilestore_circuit_trips_total", "Times a dependency's circuit opened", ["dependency"]
)


class CircuitBreaker:
    def __init__(self, name: str, *, failures_to_open: int = 2, cool_down_seconds: float = 5.0):
        self.name = name
        self.failures_to_open = failures_to_open
        self.cool_down_seconds = cool_down_seconds
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._failures >= self.failures_to_open

    def allow(self) -> bool:
        """Whether to call the dependency now: always while closed; once open, only a single
        probe after the cool-down."""
        if not self.is_open:
            return True
        if self._probing or time.monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self._failures:
            self._failures = 0
            CIRCUIT_OPEN.labels(self.name).set(0)
        self._probing = False

    def abandon(self) -> None:
        """A call let through ended without a verdict (cancelled by its caller): another
        probe may go; nothing is counted."""
        self._probing = False

    def failure(self) -> None:
        self._probing = False
        self._failures += 1
        if self._failures >= self.failures_to_open:
            if self._failures == self.failures_to_open:
                CIRCUIT_TRIPS.labels(self.name).inc()
            CIRCUIT_OPEN.labels(self.name).set(1)
            self._open_until = time.monotonic() + self.cool_down_seconds
