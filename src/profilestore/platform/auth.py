"""Bearer JWT verification and the caller's identity.

Algorithms come from settings, never from the token: HS* tokens are checked with the shared
secret only, asymmetric ones with JWKS keys only, so an HS256 token "signed" with a public key
cannot pass.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import structlog

from profilestore.platform.jwks import JwksCache, JwksUnavailable
from profilestore.settings import Settings

log = structlog.get_logger("profilestore.auth")

ADMIN = "admin"
SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (``user_id``), an admin, or a service."""

    subject: str
    user_id: uuid.UUID | None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE in self.roles

    def owns(self, user_id: uuid.UUID) -> bool:
        return self.user_id == user_id


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key."""


class AuthUnavailable(Exception):
    """Keys could not be loaded (JWKS unreachable): answer 503, not 401."""


class VerifiedTokens:
    """Recently verified tokens and their principals, so a client sending the same token on
    every request pays for the signature check once per ``ttl_seconds``, not per request.

    An entry lives until the token's ``exp`` (plus leeway) or ``ttl_seconds``, whichever comes
    first, so a key withdrawn from the JWKS stops being honoured within ``ttl_seconds``. The
    table is bounded: when full, the oldest entries go first. Only successes are kept.
    """

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.time() >= entry[1]:
            del self._entries[token]
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self.max_entries <= 0:
            return
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (principal, min(expires_at, time.time() + self.ttl_seconds))


class TokenVerifier:
    def __init__(self, settings: Settings, secret: str | None, jwks: JwksCache | None) -> None:
        self._verified = VerifiedTokens(
            settings.jwt_verified_cache_size, settings.jwt_verified_cache_seconds
        )
        self._algorithms = frozenset(settings.jwt_algorithms)
        self._secret = secret
        self._jwks = jwks
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._roles_path = settings.jwt_roles_claim.split(".")
        self._max_ttl = settings.jwt_max_ttl_seconds
        self._options: Any = {"require": ["exp", "sub"], "verify_aud": self._audience is not None}

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    async def verify(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is not None:
            return principal
        principal, expires_at = await self._verify_signed(token)
        self._verified.put(token, principal, expires_at)
        return principal

    async def _verify_signed(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise InvalidToken("algorithm not allowed")
        key = await self._key_for(algorithm, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=self._options,
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(type(exc).__name__) from exc
        self._check_times(claims)
        return self._principal(claims), float(claims["exp"]) + self._leeway

    def _check_times(self, claims: dict[str, Any]) -> None:
        """RFC 7519 NumericDate claims are JSON numbers (PyJWT also takes numeric strings such
        as ``"9999999999"``), and a token may not outlive the configured maximum."""
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidToken(f"{name} is not a number")
        if self._max_ttl is not None:
            issued = claims.get("iat", time.time())
            if claims["exp"] - issued > self._max_ttl + self._leeway:
                raise InvalidToken("token lifetime exceeds the maximum")

    async def _key_for(self, algorithm: str, kid: Any) -> Any:
        if algorithm.startswith("HS"):
            if self._secret is None:
                raise InvalidToken("no shared secret configured")
            return self._secret
        if self._jwks is None:
            raise InvalidToken("no JWKS configured")
        try:
            jwk = await self._jwks.key_for(kid if isinstance(kid, str) else None)
        except JwksUnavailable as exc:
            raise AuthUnavailable("JWKS unavailable") from exc
        if jwk is None:
            raise InvalidToken("unknown key id")
        return jwk.key

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("missing sub")
        roles = _roles(_walk(claims, self._roles_path))
        try:
            user_id: uuid.UUID | None = uuid.UUID(subject)
        except ValueError:
            user_id = None
        if user_id is None and not roles & {ADMIN, SERVICE}:
            raise InvalidToken("sub is not a user id")
        return Principal(subject=subject, user_id=user_id, roles=roles)


def _walk(claims: dict[str, Any], path: list[str]) -> Any:
    value: Any = claims
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _roles(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


def load_or_create_dev_secret(path: Path) -> str:
    """The development signing secret, generated once and kept (mode 0600) under data_dir."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


def signing_secret(settings: Settings) -> str | None:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if settings.dev_auth_mode:
        return load_or_create_dev_secret(settings.dev_secret_path)
    return None


def build_verifier(settings: Settings) -> TokenVerifier:
    if settings.dev_auth_mode:
        log.warning(
            "development_auth_mode",
            detail="No PROFILESTORE_JWT_SECRET or PROFILESTORE_JWT_JWKS_URL is set: tokens are "
            "signed with a generated development secret. Do not use this in production.",
            secret_file=str(settings.dev_secret_path),
        )
    jwks = None
    if settings.jwt_jwks_url:
        jwks = JwksCache(
            settings.jwt_jwks_url,
            cache_seconds=settings.jwks_cache_seconds,
            min_refetch_seconds=settings.jwks_min_refetch_seconds,
        )
    return TokenVerifier(settings, signing_secret(settings), jwks)


def mint_token(settings: Settings, subject: str, roles: list[str], ttl_seconds: int = 3600) -> str:
    """A token signed with the configured or development secret (``profilestore token``)."""
    secret = signing_secret(settings)
    if secret is None:
        raise RuntimeError("no shared secret: set PROFILESTORE_JWT_SECRET to mint tokens")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "nbf": now, "exp": now + ttl_seconds}
    if roles:
        *parents, leaf = settings.jwt_roles_claim.split(".")
        holder = claims
        for part in parents:
            holder = holder.setdefault(part, {})
        holder[leaf] = roles[0] if len(roles) == 1 else roles
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    algorithm = next((alg for alg in settings.jwt_algorithms if alg.startswith("HS")), "HS256")
    return jwt.encode(claims, secret, algorithm=algorithm)
