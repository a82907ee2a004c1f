"""Bearer JWT verification (TokenVerifier) and the JWKS key cache (JwksCache), without a database.

The JWKS is served over real loopback HTTP by ``JwksServer``, which counts the requests it gets,
so the cache and rate-limit claims are checked on the wire, not only on internal counters.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import stat
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from profilestore.platform.auth import (
    AuthUnavailable,
    InvalidToken,
    Principal,
    TokenVerifier,
    build_verifier,
    load_or_create_dev_secret,
    mint_token,
)
from profilestore.platform.jwks import JwksCache
from profilestore.settings import Settings
from tests.support import TEST_SECRET

# --------------------------------------------------------------------------- keys and tokens

RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PRIVATE_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())
ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
ASYMMETRIC = ["RS256", "ES256", "EdDSA"]
DROP: Any = object()  # a claim value meaning "leave this claim out"


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for a user (UUID ``sub``), with overrides; ``DROP`` removes a claim."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 300}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not DROP}


def hs_token(
    secret: str = TEST_SECRET,
    *,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (for headers PyJWT refuses to produce)."""
    parts = [json.dumps(header).encode(), json.dumps(body).encode()]
    return ".".join([*(b64url(part) for part in parts), b64url(signature)])


def forged_hs256(key: bytes, body: dict[str, Any], **header: Any) -> str:
    """An HS256 token whose HMAC key is ``key`` (PyJWT refuses PEM keys, so sign by hand)."""
    parts = ({"alg": "HS256", "typ": "JWT", **header}, body)
    signing_input = ".".join(b64url(json.dumps(part).encode()) for part in parts)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def public_pem(private: Any) -> bytes:
    pem: bytes = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return pem


@dataclass
class SigningKey:
    """An asymmetric key of the issuer: its private half signs, its public JWK is published."""

    algorithm: str
    private: Any
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig"}

    def sign(self, *, kid: Any = None, algorithm: str | None = None, **overrides: Any) -> str:
        headers = {"kid": self.kid if kid is None else kid}
        if kid is DROP:
            headers = {}
        return jwt.encode(
            claims(**overrides),
            self.private,
            algorithm=algorithm or self.algorithm,
            headers=headers,
        )


def rsa_key(kid: str | None = None, private: Any = RSA_PRIVATE) -> SigningKey:
    return SigningKey("RS256", private, kid or uuid.uuid4().hex)


def key_for(algorithm: str) -> SigningKey:
    private = {"RS256": RSA_PRIVATE, "ES256": EC_PRIVATE, "EdDSA": ED_PRIVATE}[algorithm]
    return SigningKey(algorithm, private)


# --------------------------------------------------------------------------- JWKS server


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (a real socket, port 0) that counts the requests it gets.

    Change ``keys`` to rotate, ``status``/``body`` to break it, ``delay`` to slow it down.
    """

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self.requests = 0
        self._count_lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._count_lock:
                    outer.requests += 1
                if outer.delay:
                    time.sleep(outer.delay)
                body = outer.body
                if body is None:
                    body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}/.well-known/jwks.json"

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk for key in keys]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


MakeVerifier = Callable[..., TokenVerifier]


@pytest.fixture
async def make_verifier(tmp_path: Path) -> AsyncIterator[MakeVerifier]:
    """Builds verifiers from ``Settings`` fields (closed at teardown).

    ``cache_seconds`` overrides the JWKS cache lifetime below the settings' 10 s floor, so a
    test can see the cache expire; the verifier is then assembled from its parts.
    """
    made: list[TokenVerifier] = []

    def make(*, cache_seconds: float | None = None, **fields: Any) -> TokenVerifier:
        settings = Settings(data_dir=tmp_path, **fields)
        if cache_seconds is None:
            verifier = build_verifier(settings)
        else:
            assert settings.jwt_jwks_url is not None
            jwks = JwksCache(
                settings.jwt_jwks_url,
                cache_seconds=cache_seconds,
                min_refetch_seconds=settings.jwks_min_refetch_seconds,
            )
            secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
            verifier = TokenVerifier(settings, secret, jwks)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


@pytest.fixture
def hs_verifier(make_verifier: MakeVerifier) -> TokenVerifier:
    return make_verifier(jwt_secret=TEST_SECRET)


async def rejected(verifier: TokenVerifier, token: str) -> bool:
    try:
        await verifier.verify(token)
    except InvalidToken:
        return True
    return False


# --------------------------------------------------------------------------- HS256, claims


async def test_valid_hs256_token_gives_the_principal(hs_verifier: TokenVerifier) -> None:
    user = uuid.uuid4()
    principal = await hs_verifier.verify(hs_token(sub=str(user), role=["reader"]))
    assert principal == Principal(subject=str(user), user_id=user, roles=frozenset({"reader"}))
    assert principal.owns(user)
    assert not principal.is_admin
    assert not principal.is_service


async def test_expired_token_is_rejected(hs_verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert await rejected(hs_verifier, hs_token(iat=now - 600, exp=now - 120))


@pytest.mark.parametrize(("nbf_offset", "accepted"), [(120, False), (10, True)])
async def test_not_before_is_checked_with_leeway(
    make_verifier: MakeVerifier, nbf_offset: int, accepted: bool
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_leeway_seconds=30)
    token = hs_token(nbf=int(time.time()) + nbf_offset)
    assert await rejected(verifier, token) is not accepted


async def test_token_without_exp_is_rejected(hs_verifier: TokenVerifier) -> None:
    token = hs_token(exp=DROP)
    assert "exp" not in jwt.decode(token, options={"verify_signature": False})
    assert await rejected(hs_verifier, token)


@pytest.mark.parametrize("sub", [DROP, "", 42, None])
async def test_token_without_a_string_sub_is_rejected(hs_verifier: TokenVerifier, sub: Any) -> None:
    body = claims(sub=sub)
    token = forged_hs256(TEST_SECRET.encode(), body)
    assert await rejected(hs_verifier, token)


@pytest.mark.parametrize(
    ("iss", "accepted"),
    [("https://issuer.test", True), ("https://evil.test", False), (DROP, False)],
)
async def test_issuer_is_checked_when_configured(
    make_verifier: MakeVerifier, iss: Any, accepted: bool
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_issuer="https://issuer.test")
    assert await rejected(verifier, hs_token(iss=iss)) is not accepted


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("profilestore", True),
        (["other", "profilestore"], True),
        ("other-service", False),
        (["other", "another"], False),
        (DROP, False),
    ],
)
async def test_audience_is_checked_when_configured(
    make_verifier: MakeVerifier, aud: Any, accepted: bool
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_audience="profilestore")
    assert await rejected(verifier, hs_token(aud=aud)) is not accepted


async def test_issuer_and_audience_are_not_checked_when_not_configured(
    hs_verifier: TokenVerifier,
) -> None:
    principal = await hs_verifier.verify(hs_token(iss="https://anyone.test", aud="anything"))
    assert principal.user_id is not None


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_rejected(hs_verifier: TokenVerifier, alg: str) -> None:
    token = raw_token({"alg": alg, "typ": "JWT"}, claims(role="admin"))
    assert await rejected(hs_verifier, token)


async def test_alg_none_token_made_by_pyjwt_is_rejected(hs_verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    assert await rejected(hs_verifier, token)


def test_settings_refuse_alg_none_and_an_empty_list(tmp_path: Path) -> None:
    for algorithms in (["none"], ["HS256", "none"], [], "none"):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, jwt_algorithms=algorithms)
    assert Settings(data_dir=tmp_path, jwt_algorithms="HS256, RS256").jwt_algorithms == [
        "HS256",
        "RS256",
    ]


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_algorithm_not_in_settings_is_rejected(
    make_verifier: MakeVerifier, algorithm: str
) -> None:
    secret = TEST_SECRET * 2  # long enough for HS512: only the algorithm is wrong
    verifier = make_verifier(jwt_secret=secret, jwt_algorithms=["HS256"])
    assert await rejected(verifier, hs_token(secret, algorithm=algorithm))
    assert not await rejected(verifier, hs_token(secret, algorithm="HS256"))


async def test_algorithm_in_settings_is_accepted(make_verifier: MakeVerifier) -> None:
    secret = TEST_SECRET * 2  # HS512 wants a key of 64 bytes or more
    verifier = make_verifier(jwt_secret=secret, jwt_algorithms=["HS256", "HS512"])
    assert (await verifier.verify(hs_token(secret, algorithm="HS512"))).user_id is not None
    assert await rejected(verifier, hs_token(secret, algorithm="HS384"))


async def test_asymmetric_algorithm_not_in_settings_is_rejected_without_fetching(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["ES256"])
    assert await rejected(verifier, key.sign())
    assert jwks_server.requests == 0


@pytest.mark.parametrize("alg", [["HS256"], {"name": "HS256"}, 256, None])
async def test_non_string_alg_header_is_rejected(hs_verifier: TokenVerifier, alg: Any) -> None:
    body = claims()
    token = raw_token({"alg": alg, "typ": "JWT"}, body, b"x" * 32)
    assert await rejected(hs_verifier, token)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.e30", "\u00e9.\u00e9.\u00e9"],
)
async def test_malformed_tokens_are_rejected(hs_verifier: TokenVerifier, token: str) -> None:
    assert await rejected(hs_verifier, token)


async def test_wrong_secret_and_tampered_payload_are_rejected(hs_verifier: TokenVerifier) -> None:
    assert await rejected(hs_verifier, hs_token("another-secret-that-is-long-enough-0123456789"))
    header, _, signature = hs_token().split(".")
    evil = b64url(json.dumps(claims(role="admin")).encode())
    assert await rejected(hs_verifier, f"{header}.{evil}.{signature}")


async def test_hs_token_is_rejected_when_no_secret_is_configured(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    jwks_server.publish(rsa_key())
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["HS256", "RS256"])
    assert await rejected(verifier, hs_token())


# --------------------------------------------------------------------------- leeway


@pytest.mark.parametrize(("leeway", "accepted"), [(30, True), (0, False)])
async def test_leeway_applies_to_expiry(
    make_verifier: MakeVerifier, leeway: int, accepted: bool
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_leeway_seconds=leeway)
    now = int(time.time())
    token = hs_token(iat=now - 300, exp=now - 10)
    assert await rejected(verifier, token) is not accepted


@pytest.mark.parametrize("leeway", [-1, 301, 3600])
def test_leeway_is_bounded(tmp_path: Path, leeway: int) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, jwt_leeway_seconds=leeway)


# --------------------------------------------------------------------------- roles and sub


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", {"admin"}),
        (["admin", "service"], {"admin", "service"}),
        ("admin service", {"admin", "service"}),
        (["reader", 7, None], {"reader"}),
        ({"admin": True}, set()),
        (DROP, set()),
    ],
)
async def test_default_roles_claim_is_role(
    hs_verifier: TokenVerifier, role: Any, expected: set[str]
) -> None:
    principal = await hs_verifier.verify(hs_token(role=role))
    assert principal.roles == frozenset(expected)


async def test_roles_claim_with_a_dotted_path_walks_nested_objects(
    make_verifier: MakeVerifier,
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_roles_claim="realm_access.roles")
    principal = await verifier.verify(
        hs_token(sub="admin-tool", realm_access={"roles": ["admin", "x"]}, role="service")
    )
    assert principal.roles == frozenset({"admin", "x"})
    assert principal.is_admin
    assert not principal.is_service  # the top-level "role" claim is not read any more
    assert principal.user_id is None


@pytest.mark.parametrize(
    "realm_access", [DROP, "admin", ["admin"], {"roles": None}, {"other": ["admin"]}]
)
async def test_dotted_roles_claim_of_another_shape_gives_no_roles(
    make_verifier: MakeVerifier, realm_access: Any
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_roles_claim="realm_access.roles")
    principal = await verifier.verify(hs_token(realm_access=realm_access))
    assert principal.roles == frozenset()
    assert await rejected(verifier, hs_token(sub="tool", realm_access=realm_access))


async def test_custom_top_level_roles_claim(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_roles_claim="groups")
    principal = await verifier.verify(hs_token(groups=["service"], role="admin"))
    assert principal.roles == frozenset({"service"})


@pytest.mark.parametrize("roles", [None, [], ["reader"], ["editor", "owner"]])
async def test_non_uuid_sub_without_admin_or_service_role_is_rejected(
    hs_verifier: TokenVerifier, roles: list[str] | None
) -> None:
    assert await rejected(hs_verifier, hs_token(sub="alice", role=roles if roles else DROP))


@pytest.mark.parametrize("role", ["admin", "service", ["reader", "service"]])
async def test_non_uuid_sub_with_admin_or_service_role_is_accepted(
    hs_verifier: TokenVerifier, role: Any
) -> None:
    principal = await hs_verifier.verify(hs_token(sub="chat-service", role=role))
    assert principal.subject == "chat-service"
    assert principal.user_id is None
    assert principal.is_admin or principal.is_service


# --------------------------------------------------------------------------- mint / dev secret


async def test_minted_token_round_trips_with_a_dotted_roles_claim(
    make_verifier: MakeVerifier, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=TEST_SECRET,
        jwt_roles_claim="realm_access.roles",
        jwt_issuer="https://issuer.test",
        jwt_audience="profilestore",
    )
    verifier = make_verifier(
        jwt_secret=TEST_SECRET,
        jwt_roles_claim="realm_access.roles",
        jwt_issuer="https://issuer.test",
        jwt_audience="profilestore",
    )
    token = mint_token(settings, "admin-tool", ["admin", "service"])
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["realm_access"] == {"roles": ["admin", "service"]}
    principal = await verifier.verify(token)
    assert principal.roles == frozenset({"admin", "service"})
    single = await verifier.verify(mint_token(settings, str(uuid.uuid4()), ["reader"]))
    assert single.roles == frozenset({"reader"})


async def test_dev_mode_uses_a_persistent_0600_secret(
    make_verifier: MakeVerifier, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.dev_auth_mode
    token = mint_token(settings, str(uuid.uuid4()), [])
    secret_file = tmp_path / "dev-jwt-secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert load_or_create_dev_secret(secret_file) == secret_file.read_text().strip()
    assert (await make_verifier().verify(token)).user_id is not None
    assert await rejected(make_verifier(), hs_token())  # not the dev secret


def test_mint_token_needs_a_shared_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_jwks_url="http://127.0.0.1:9/jwks")
    with pytest.raises(RuntimeError):
        mint_token(settings, "x", [])


# --------------------------------------------------------------------------- JWKS algorithms


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
async def test_asymmetric_token_is_accepted_via_jwks(
    make_verifier: MakeVerifier, jwks_server: JwksServer, algorithm: str
) -> None:
    key = key_for(algorithm)
    jwks_server.publish(rsa_key(), key_for("ES256"), key_for("EdDSA"), key)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=ASYMMETRIC)
    user = uuid.uuid4()
    principal = await verifier.verify(key.sign(sub=str(user), role="reader"))
    assert principal.user_id == user
    assert principal.roles == frozenset({"reader"})
    assert jwks_server.requests == 1


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
async def test_asymmetric_token_signed_by_another_key_with_a_known_kid_is_rejected(
    make_verifier: MakeVerifier, jwks_server: JwksServer, algorithm: str
) -> None:
    published = key_for(algorithm)
    jwks_server.publish(published)
    impostor_private = {
        "RS256": RSA_PRIVATE_2,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }[algorithm]
    impostor = SigningKey(algorithm, impostor_private, published.kid)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=ASYMMETRIC)
    assert await rejected(verifier, impostor.sign())
    assert (await verifier.verify(published.sign())).user_id is not None


async def test_key_of_another_type_than_the_token_algorithm_is_rejected(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    rsa_published = rsa_key()
    jwks_server.publish(rsa_published)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=ASYMMETRIC)
    token = SigningKey("ES256", EC_PRIVATE, rsa_published.kid).sign()
    assert await rejected(verifier, token)


@pytest.mark.parametrize("with_secret", [True, False])
async def test_hs256_signed_with_the_rsa_public_key_is_rejected(
    make_verifier: MakeVerifier, jwks_server: JwksServer, with_secret: bool
) -> None:
    """HS/RS confusion: HMAC keyed with the public PEM, both HS256 and RS256 allowed."""
    key = rsa_key()
    jwks_server.publish(key)
    fields: dict[str, Any] = {
        "jwt_jwks_url": jwks_server.url,
        "jwt_algorithms": ["HS256", "RS256"],
    }
    if with_secret:
        fields["jwt_secret"] = TEST_SECRET
    verifier = make_verifier(**fields)
    body = claims(role="admin")
    for pem in (public_pem(RSA_PRIVATE), public_pem(RSA_PRIVATE).strip()):
        assert await rejected(verifier, forged_hs256(pem, body, kid=key.kid))
        assert await rejected(verifier, forged_hs256(pem, body))
    # the forging helper makes good tokens, and the verifier does accept this issuer's tokens
    if with_secret:
        assert (await verifier.verify(forged_hs256(TEST_SECRET.encode(), body))).is_admin
    assert (await verifier.verify(key.sign(role="admin"))).is_admin


# --------------------------------------------------------------------------- JWKS cache


async def test_jwks_keys_are_cached(make_verifier: MakeVerifier, jwks_server: JwksServer) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    for _ in range(5):
        await verifier.verify(key.sign())
    assert jwks_server.requests == 1


async def test_unknown_kid_triggers_at_most_one_refetch(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"], jwks_min_refetch_seconds=0.3
    )
    await verifier.verify(key.sign())
    assert jwks_server.requests == 1
    await asyncio.sleep(0.35)
    stranger = rsa_key(private=RSA_PRIVATE_2)
    assert await rejected(verifier, stranger.sign())
    assert jwks_server.requests == 2  # one refetch for the unknown kid
    assert await rejected(verifier, stranger.sign())
    assert jwks_server.requests == 2  # not again within jwks_min_refetch_seconds
    assert (await verifier.verify(key.sign())).user_id is not None
    assert jwks_server.requests == 2


async def test_refetches_for_random_unknown_kids_are_rate_limited(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"], jwks_min_refetch_seconds=0.5
    )

    def forged() -> str:
        return key.sign(kid=uuid.uuid4().hex)

    # cold cache: a flood of random kids loads the keys once
    results = await asyncio.gather(*(rejected(verifier, forged()) for _ in range(40)))
    assert all(results)
    assert jwks_server.requests == 1
    for _ in range(40):
        assert await rejected(verifier, forged())
    assert jwks_server.requests == 1
    # once the window has passed, another flood gets exactly one more fetch
    await asyncio.sleep(0.55)
    results = await asyncio.gather(*(rejected(verifier, forged()) for _ in range(40)))
    assert all(results)
    assert jwks_server.requests == 2
    assert (await verifier.verify(key.sign())).user_id is not None


async def test_key_rotation_new_kid_after_one_refetch_old_kid_rejected(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    old, new = rsa_key("old"), rsa_key("new", RSA_PRIVATE_2)
    jwks_server.publish(old)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"], jwks_min_refetch_seconds=0.2
    )
    assert (await verifier.verify(old.sign())).user_id is not None
    assert jwks_server.requests == 1
    jwks_server.publish(new)  # the issuer rotates: the old key is removed
    await asyncio.sleep(0.25)
    assert (await verifier.verify(new.sign())).user_id is not None
    assert jwks_server.requests == 2  # at most one refetch
    assert await rejected(verifier, old.sign())  # the refreshed cache no longer has it
    assert (await verifier.verify(new.sign())).user_id is not None
    assert jwks_server.requests == 2


async def test_removed_key_is_rejected_once_the_cache_expires(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    old, new = rsa_key("old"), rsa_key("new", RSA_PRIVATE_2)
    jwks_server.publish(old, new)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url,
        jwt_algorithms=["RS256"],
        jwks_min_refetch_seconds=60,
        cache_seconds=0.3,
    )
    assert (await verifier.verify(old.sign())).user_id is not None
    jwks_server.publish(new)
    assert (await verifier.verify(old.sign())).user_id is not None  # still cached
    assert jwks_server.requests == 1
    await asyncio.sleep(0.35)
    assert await rejected(verifier, old.sign())
    assert jwks_server.requests == 2
    assert (await verifier.verify(new.sign())).user_id is not None


async def test_concurrent_cold_start_fetches_once_and_accepts_all(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    """Requests arriving while the first fetch is in flight wait for it (single flight)."""
    key = rsa_key()
    jwks_server.publish(key)
    jwks_server.delay = 0.2
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    principals = await asyncio.gather(*(verifier.verify(key.sign()) for _ in range(10)))
    assert all(p.user_id is not None for p in principals)
    assert jwks_server.requests == 1


async def test_rotated_kid_arriving_during_a_refetch_is_accepted(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    old, new = rsa_key("old"), rsa_key("new", RSA_PRIVATE_2)
    jwks_server.publish(old)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"], jwks_min_refetch_seconds=0.2
    )
    await verifier.verify(old.sign())
    jwks_server.publish(new)
    jwks_server.delay = 0.2
    await asyncio.sleep(0.25)
    principals = await asyncio.gather(*(verifier.verify(new.sign()) for _ in range(5)))
    assert all(p.user_id is not None for p in principals)
    assert jwks_server.requests == 2


async def test_token_without_kid_uses_the_only_key(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    assert (await verifier.verify(key.sign(kid=DROP))).user_id is not None
    jwks_server.publish(key, rsa_key(private=RSA_PRIVATE_2))
    other = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    assert await rejected(other, key.sign(kid=DROP))  # ambiguous: two keys


async def test_keys_not_meant_for_signatures_are_ignored(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.keys = [{**key.jwk, "use": "enc"}]
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    assert await rejected(verifier, key.sign())


async def test_unusable_jwks_entries_are_skipped(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.keys = [
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "nope", "kid": "unknown-type"},
        "not-an-object",
        key.jwk,
    ]
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    assert (await verifier.verify(key.sign())).user_id is not None
    assert await rejected(verifier, key.sign(kid="broken"))


# --------------------------------------------------------------------------- JWKS unavailable


async def test_unreachable_jwks_with_no_keys_ever_loaded_is_unavailable(
    make_verifier: MakeVerifier,
) -> None:
    verifier = make_verifier(jwt_jwks_url=closed_port_url(), jwt_algorithms=["RS256"])
    token = rsa_key().sign()
    for _ in range(3):  # also within jwks_min_refetch_seconds of the failed fetch
        with pytest.raises(AuthUnavailable):
            await verifier.verify(token)


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b"oops"), (200, b"not json"), (200, b"[1, 2]"), (404, b"{}"), (200, b'{"keys": 5}')],
)
async def test_broken_jwks_with_no_keys_ever_loaded_is_unavailable(
    make_verifier: MakeVerifier, jwks_server: JwksServer, status: int, body: bytes
) -> None:
    jwks_server.status, jwks_server.body = status, body
    verifier = make_verifier(jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"])
    for _ in range(2):
        with pytest.raises(AuthUnavailable):
            await verifier.verify(rsa_key().sign())
    assert jwks_server.requests == 1  # failures are rate limited too


async def test_jwks_recovers_after_an_outage(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    jwks_server.status = 503
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url, jwt_algorithms=["RS256"], jwks_min_refetch_seconds=0.2
    )
    with pytest.raises(AuthUnavailable):
        await verifier.verify(key.sign())
    jwks_server.status = 200
    await asyncio.sleep(0.25)
    assert (await verifier.verify(key.sign())).user_id is not None
    assert jwks_server.requests == 2


async def test_outage_after_keys_were_loaded_keeps_the_cached_keys(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.publish(key)
    verifier = make_verifier(
        jwt_jwks_url=jwks_server.url,
        jwt_algorithms=["RS256"],
        jwks_min_refetch_seconds=0,
        cache_seconds=0.2,
    )
    await verifier.verify(key.sign())
    jwks_server.status = 500
    await asyncio.sleep(0.25)
    assert (await verifier.verify(key.sign())).user_id is not None  # stale keys still serve
    assert await rejected(verifier, key.sign(kid="unknown"))  # 401, not 503
    assert jwks_server.requests >= 2


# --------------------------------------------------------------------------- verified-token cache


def count_signature_checks(verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each token whose signature and claims the verifier actually checks."""
    checked: list[str] = []
    original = verifier._verify_signed

    async def spy(token: str) -> tuple[Principal, float]:
        checked.append(token)
        return await original(token)

    monkeypatch.setattr(verifier, "_verify_signed", spy)
    return checked


async def test_a_verified_token_is_checked_once(
    hs_verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = count_signature_checks(hs_verifier, monkeypatch)
    token = hs_token()
    first = await hs_verifier.verify(token)
    assert await hs_verifier.verify(token) == first
    assert checked == [token]
    assert await rejected(hs_verifier, hs_token(TEST_SECRET + "x"))
    assert await rejected(hs_verifier, hs_token(TEST_SECRET + "x"))  # failures are not kept


async def test_a_cached_token_still_expires(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_leeway_seconds=0)
    expires = int(time.time()) + 1
    token = hs_token(exp=expires)
    await verifier.verify(token)
    await asyncio.sleep(expires + 0.05 - time.time())
    assert await rejected(verifier, token)


async def test_a_cached_token_is_checked_again_after_the_cache_lifetime(
    make_verifier: MakeVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = make_verifier(jwt_secret=TEST_SECRET, jwt_verified_cache_seconds=0.2)
    checked = count_signature_checks(verifier, monkeypatch)
    token = hs_token()
    await verifier.verify(token)
    await verifier.verify(token)
    await asyncio.sleep(0.25)
    await verifier.verify(token)
    assert checked == [token, token]


async def test_the_cache_is_bounded_and_can_be_turned_off(
    make_verifier: MakeVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounded = make_verifier(jwt_secret=TEST_SECRET, jwt_verified_cache_size=2)
    checked = count_signature_checks(bounded, monkeypatch)
    tokens = [hs_token() for _ in range(3)]
    for token in [*tokens, tokens[2], tokens[0]]:
        await bounded.verify(token)
    assert checked == [*tokens, tokens[0]]  # the oldest went first; the newest stayed
    off = make_verifier(jwt_secret=TEST_SECRET, jwt_verified_cache_size=0)
    checked_off = count_signature_checks(off, monkeypatch)
    await off.verify(tokens[0])
    await off.verify(tokens[0])
    assert checked_off == [tokens[0], tokens[0]]
