"""All configuration, read once from the environment (prefix ``PROFILESTORE_``)."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from profilestore.domains import NAMES, canonical

SUPPORTED_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"ES256", "ES384", "ES512", "EdDSA"}
)

RESERVED_USERNAMES = [
    "admin",
    "administrator",
    "root",
    "system",
    "support",
    "help",
    "me",
    "self",
    "null",
    "undefined",
    "api",
    "www",
    "mail",
    "security",
    "staff",
    "moderator",
    "profilestore",
    "about",
    "account",
    "billing",
    "abuse",
    "everyone",
    "here",
    "login",
    "logout",
    "signup",
    "settings",
    "search",
    "official",
    "postmaster",
    "webmaster",
    "hostmaster",
    "noreply",
]

HUB_REMOTE_SECTIONS = frozenset({"social", "media", "nutrition", "movement"})
"""Sections of the user's aggregate that the hub can get from a domain served elsewhere
(``hub_domains``); identity is the anchor and is always read in the hub's own process."""


class Settings(BaseSettings):
    """Service settings. Every field can be set as ``PROFILESTORE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="PROFILESTORE_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where embedded mode keeps its files.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL: postgresql+asyncpg://... or sqlite+aiosqlite:///...; "
        "unset means a SQLite file under data_dir.",
    )
    database_pool_size: int = Field(20, ge=1, le=200)
    database_max_overflow: int = Field(10, ge=0, le=200)
    database_timeout_seconds: float = Field(5.0, gt=0, le=120)
    database_role: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role the service runs as (SET ROLE on connecting), e.g. "
        "profilestore_app: it owns no table, so row-level security applies to every query "
        "(docs/operations.md); unset: the login role's own rights. Ignored on SQLite.",
    )
    relay_database_role: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role `profilestore relay` runs as, e.g. profilestore_relay "
        "(the outbox and its lease only); unset: the login role's own rights.",
    )
    domains: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(NAMES),
        description="The domains this process serves and migrates (comma separated): profiles "
        "(or identity), social, media, nutrition, movement; all by default. Social needs "
        "profiles with it; the others run on a database of their own (docs/federation.md).",
    )

    jwt_secret: SecretStr | None = Field(None, description="Shared secret for HS* tokens.")
    jwt_jwks_url: str | None = Field(None, description="JWKS URL for RS*/ES*/EdDSA tokens.")
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["HS256"],
        description="Accepted algorithms (comma separated); never taken from the token.",
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(30, ge=0, le=300)
    jwt_roles_claim: str = Field("role", description="Claim holding roles; dots walk objects.")
    jwt_max_ttl_seconds: int | None = Field(
        None,
        ge=1,
        description="Refuse tokens living longer than this (exp - iat, or exp - now without iat); "
        "unset: no maximum.",
    )
    max_auth_header_bytes: int = Field(
        8192, ge=256, le=65536, description="Longer Authorization headers are refused unread."
    )
    require_if_match: bool = Field(
        False, description="Changes to existing profiles and addresses must send If-Match (428)."
    )
    jwt_verified_cache_size: int = Field(
        10_000, ge=0, le=1_000_000, description="Verified tokens kept per process (0: off)."
    )
    jwt_verified_cache_seconds: float = Field(
        60.0, ge=0, le=3600, description="How long a verified token is trusted without re-check."
    )
    jwks_cache_seconds: int = Field(600, ge=10, le=86400)
    jwks_min_refetch_seconds: float = Field(30.0, ge=0, le=3600)

    redis_url: str | None = Field(
        None, description="redis://host:6379/0 for the shared cache; unset: in-process cache."
    )
    cache_prefix: str = Field("profilestore:", description="Prefix of every cache key.")
    serve_workers: int = Field(
        1,
        ge=1,
        description="Worker processes serving this configuration (set by `profilestore serve "
        "--workers`); without Redis, more than one turns the in-process cache off.",
    )
    redis_timeout_seconds: float = Field(
        0.25, gt=0, le=10, description="Socket timeout of every Redis call (then: a miss)."
    )
    rate_limit_enabled: bool = Field(True, description="Per-caller request rate limits.")
    rate_limit_per_minute: int = Field(200, ge=1, description="Reads per user per minute.")
    rate_limit_writes_per_minute: int = Field(200, ge=1, description="Writes per user per minute.")
    rate_limit_lookups_per_minute: int = Field(
        30, ge=1, description="Existence-revealing look-ups (username) per user per minute."
    )
    rate_limit_admin_per_minute: int = Field(6000, ge=1)
    rate_limit_service_per_minute: int = Field(60000, ge=1)
    rate_limit_ip_per_minute: int = Field(
        60, ge=1, description="Requests without a valid token, per client IP per minute."
    )
    cache_ttl_seconds: float = Field(
        300.0, ge=0.1, le=86400, description="How long a cached read is kept (shared tier)."
    )
    cache_enabled: bool = Field(
        True, description="false: every read goes to the database (to measure or debug)."
    )
    fast_reads_enabled: bool = Field(
        True,
        description="Answer the hottest reads from the near cache before the framework's "
        "routing (same answers; false: every request goes through the routes).",
    )
    cache_near_ttl_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="How long each process keeps a read in its near cache when Redis is "
        "configured (writes drop it everywhere at once; 0: no near cache).",
    )
    cache_near_max_entries: int = Field(100_000, ge=100, le=10_000_000)
    cache_fill_guard_seconds: float = Field(
        10.0,
        ge=1,
        le=300,
        description="A read slower than this is not cached (it may have raced a write); keep "
        "it above the database timeout.",
    )

    media_max_viewers: int = Field(
        5, ge=1, le=50, description="Viewer profiles per account, the account's own included."
    )
    media_watchlist_max: int = Field(5000, ge=1, le=1_000_000, description="Items per account.")
    media_completion_ratio: float = Field(
        0.95, gt=0, le=1, description="A video counts as watched from this share of it."
    )
    media_history_window_seconds: float = Field(
        600.0,
        ge=1,
        le=86400,
        description="Beats of one video within this long of its entry's start update that "
        "history entry; a later beat opens a new one.",
    )
    media_beat_event_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="At most one HistoryUpdated per video this often for mere progress "
        "(a completion is always an event).",
    )
    media_cache_ttl_seconds: float = Field(
        300.0,
        ge=0.1,
        le=86400,
        description="How long watchlist, continue-watching and resume reads stay cached "
        "(every write drops them at once).",
    )

    presence_ttl_seconds: float = Field(
        60.0, ge=1, le=3600, description="A device that stops heartbeating is offline after this."
    )
    presence_write_every_seconds: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="last_seen is written to the database at most this often per user (and on "
        "going offline).",
    )
    presence_sweep_seconds: float = Field(
        1.0, gt=0, le=60, description="How often expired devices are looked for."
    )

    stream_ticket_seconds: float = Field(
        30.0, ge=1, le=600, description="How long a single-use stream ticket may wait for use."
    )

    hub_domains: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Domains the hub's aggregate gets over HTTP from the service serving them: "
        'a JSON object, section name to base URL, e.g. {"nutrition": "http://10.0.0.5:8000"} '
        "(docs/federation.md); a domain named here is called even if installed locally.",
    )
    hub_timeout_ms: int = Field(
        800,
        ge=10,
        le=60_000,
        description="Time budget of one aggregate; a section not done by then is null and "
        "named in errors with code timeout.",
    )
    hub_breaker_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description="Failures or timeouts in a row after which a remote domain is skipped "
        "(code unavailable at once) for the cool-down.",
    )
    hub_breaker_cool_down_seconds: float = Field(
        5.0,
        ge=0.05,
        le=3600,
        description="How long a failing remote domain is skipped before one probe call.",
    )
    hub_privacy_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Bound of one call to a remote domain service for an export (each read "
        "of its stream) or an erasure (the whole call).",
    )
    hub_erasure_retry_seconds: float = Field(
        30.0,
        ge=0.05,
        le=86_400,
        description="First delay before an erasure a remote domain service did not confirm "
        "is tried again (doubling per attempt, at most an hour).",
    )

    events_url: str | None = Field(
        None,
        description="Broker: nats://, redis://, amqp://, kafka://; unset keeps events in the "
        "outbox feed (GET /v1/events).",
    )
    events_source: str = Field("/profilestore", description="CloudEvents 'source' attribute.")
    events_include_private: bool = Field(
        False, description="Put private values (preferences, addresses...) in event payloads."
    )
    relay_in_process: bool = Field(
        True,
        description="Run the outbox relay inside every `serve` process (leases keep several "
        "relays safe); false: run `profilestore relay` yourself.",
    )
    relay_batch_size: int = Field(100, ge=1, le=5000)
    relay_poll_seconds: float = Field(0.25, gt=0, le=60)
    relay_linger_seconds: float = Field(
        0.005,
        ge=0,
        le=1,
        description="After a commit wakes the relay, wait this long for more (batches events "
        "under write load; 0: publish at once).",
    )
    relay_lease_seconds: float = Field(15.0, ge=1, le=600)
    relay_backoff_max_seconds: float = Field(30.0, ge=0.1, le=3600)
    outbox_retention_seconds: float = Field(7 * 86400, ge=60)
    audit_retention_days: float = Field(
        365,
        gt=0,
        le=36_500,
        description="Audit records older than this are deleted by the relay's housekeeping "
        "(erasure markers too).",
    )

    metrics_token: SecretStr | None = Field(
        None,
        description="When set, /metrics needs `Authorization: Bearer <token>`; unset: open.",
    )
    metrics_backlog_seconds: float = Field(
        5.0, ge=0, le=300, description="The outbox backlog gauges are read at most this often."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS (comma separated, exact); none by default.",
    )

    idempotency_ttl_seconds: int = Field(
        86400, ge=60, le=30 * 86400, description="How long an Idempotency-Key's answer is kept."
    )
    reserved_usernames: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(RESERVED_USERNAMES),
        description="Usernames nobody may claim (comma separated, case-insensitive).",
    )
    reserved_usernames_file: Path | None = Field(
        None,
        description="A file of more reserved usernames (one a line, # comments), added to "
        "reserved_usernames.",
    )
    profile_schema: Path | None = Field(
        None,
        description="A YAML file declaring the app's custom profile fields "
        "(docs/profile-schema.md); unset: no custom fields.",
    )
    username_hold_days: int = Field(
        30, ge=0, le=3650, description="How long a given-up username is held for its owner."
    )
    username_change_days: int = Field(
        30, ge=0, le=3650, description="A user may change their username once per this many days."
    )

    blob_s3_bucket: str | None = Field(
        None,
        description="Keep blobs (avatar images) in this bucket of an S3-compatible store; "
        "unset: in a directory under data_dir.",
    )
    blob_s3_endpoint_url: str | None = Field(
        None, description="The S3-compatible store's URL (MinIO, Ceph, R2...); unset: AWS S3."
    )
    blob_s3_region: str | None = Field(None, description="The bucket's region.")
    blob_s3_access_key_id: str | None = Field(
        None, description="Unset: boto3's default credential chain (environment, IAM role)."
    )
    blob_s3_secret_access_key: SecretStr | None = Field(None)
    avatar_workers: int = Field(
        2, ge=1, le=64, description="Avatar images decoded and encoded at once (per process)."
    )

    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    batch_max_ids: int = Field(100, ge=1, le=1000)
    max_addresses_per_user: int = Field(50, ge=1, le=1000)
    log_level: str = "INFO"
    environment: Literal["development", "production"] = Field(
        "development",
        description="production: no GraphiQL page and no GraphQL introspection.",
    )
    graphql_max_depth: int = Field(10, ge=2, le=50, description="Deepest GraphQL selection.")
    graphql_max_cost: int = Field(
        5000,
        ge=10,
        le=1_000_000,
        description="Most fields a GraphQL operation may select, list fields counted per item "
        "asked (first, default 50).",
    )
    gc_freeze: bool = Field(
        True,
        description="Once started, exempt the objects alive then from garbage collection "
        "(shorter full collections: the tail latency; see bench/README.md).",
    )

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reserved_usernames", mode="before")
    @classmethod
    def _split_usernames(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, value: list[str]) -> list[str]:
        return list(canonical(value))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        unknown = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
        if unknown or not value:
            raise ValueError(f"unsupported or empty algorithm list: {unknown or value}")
        return value

    @field_validator("hub_domains", mode="before")
    @classmethod
    def _parse_hub_domains(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(
                    "must be a JSON object of section name to base URL, e.g. "
                    '{"nutrition": "http://127.0.0.1:8101"}'
                ) from exc
        return value

    @field_validator("hub_domains")
    @classmethod
    def _known_hub_domains(cls, value: dict[str, str]) -> dict[str, str]:
        known = ", ".join(sorted(HUB_REMOTE_SECTIONS))
        checked = {}
        for name, url in value.items():
            if name == "identity":
                raise ValueError("identity is the aggregate's anchor: it is always read locally")
            if name not in HUB_REMOTE_SECTIONS:
                raise ValueError(f"unknown section {name!r} (known: {known})")
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{name}: {url!r} is not an http:// or https:// URL")
            if parts.query or parts.fragment or parts.username or parts.password:
                raise ValueError(f"{name}: {url!r}: give a base URL without query or credentials")
            checked[name] = url.strip().rstrip("/")
        return checked

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'profilestore.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def runs_relay_in_process(self) -> bool:
        return self.relay_in_process

    @property
    def dev_auth_mode(self) -> bool:
        """No key material configured: tokens are signed with a generated development secret."""
        return self.jwt_secret is None and self.jwt_jwks_url is None

    @property
    def dev_secret_path(self) -> Path:
        return self.data_dir / "dev-jwt-secret"
