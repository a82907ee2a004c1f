"""A JWKS key cache: keys by ``kid``, refreshed on expiry; an unknown kid triggers at most one
refetch per ``min_refetch_seconds`` (so a flood of forged kids cannot hammer the issuer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger("profilestore.jwks")


class JwksUnavailable(Exception):
    """The JWKS endpoint could not be read."""


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        min_refetch_seconds: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self._loaded = False
        self._last_error = "JWKS not fetched yet"
        self.fetch_count = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for ``kid``; None if the issuer does not publish it (401). Raises
        JwksUnavailable while no key set has ever been loaded (503: we cannot judge)."""
        if self._expired():
            await self._refresh_if(self._expired)
        key = self._lookup(kid)
        if key is None and self._lock.locked():
            async with self._lock:  # a refresh is in flight: its result may hold the kid
                key = self._lookup(kid)
        if key is None and self._may_refetch():
            await self._refresh_if(self._may_refetch)
            key = self._lookup(kid)
        if key is None and not self._loaded:
            raise JwksUnavailable(self._last_error)
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _expired(self) -> bool:
        return time.monotonic() - self._fetched_at > self.cache_seconds

    def _may_refetch(self) -> bool:
        return time.monotonic() - self._fetched_at >= self.min_refetch_seconds

    async def _refresh_if(self, needed: Callable[[], bool]) -> None:
        """Single flight: callers queue on the lock and re-check, so one fetch serves them all."""
        async with self._lock:
            if needed():
                await self._fetch()

    async def _fetch(self) -> None:
        """Fetch the key set. A failure keeps the keys already loaded; both outcomes count for
        the rate limit, so a broken issuer is not hammered either."""
        self.fetch_count += 1
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            self._keys = _parse_keys(response.json())
            self._loaded = True
        except (httpx.HTTPError, ValueError) as exc:
            self._last_error = f"JWKS fetch failed: {type(exc).__name__}"
            log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
        finally:
            self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """Signing keys by kid; entries that are not usable keys are skipped with a warning."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("jwks_key_skipped", kid=str(entry.get("kid")))
            continue
        keys[str(entry.get("kid", len(keys)))] = key
    return keys
