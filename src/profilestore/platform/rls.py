"""Row-level security on PostgreSQL, the second layer behind the access rules: who the database
is told is asking, in every transaction.

With ``PROFILESTORE_DATABASE_ROLE`` set, every connection runs as that role (``SET ROLE`` in the
startup packet), which owns no table, so the policies of ``migrations/policies.py`` apply to
it. Each transaction then starts with the caller's identity, transaction-local::

    BEGIN; SELECT set_config('profilestore.user_id', '…', true), …

sent as one simple-protocol message by ``IdentityConnection``: the identity costs no round trip
of its own, and it ends with the transaction, so a pooled connection never carries a previous
request's identity (also behind PgBouncer in transaction mode). Reads, autocommit otherwise,
run in a transaction when row security is on (``Database.read_engine``, ``platform.reads``).

Who is asking: inside a request, the request's principal (the pipeline binds the request's
state, ``bind_request``); a request without one is ``anonymous``. Outside any request (the
relay, sweepers, command-line jobs, tests' own queries) the caller is ``system``.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import asyncpg

from profilestore.platform.auth import ADMIN, SERVICE, Principal

USER_SETTING = "profilestore.user_id"
ROLE_SETTING = "profilestore.role"
SUBJECT_SETTING = "profilestore.subject"

USER = "user"
SYSTEM_ROLE = "system"
ANONYMOUS_ROLE = "anonymous"


@dataclass(frozen=True, slots=True)
class Identity:
    """What the policies see: ``profilestore.user_id`` (a user id, or empty),
    ``profilestore.role`` (anonymous, user, admin, service, system) and
    ``profilestore.subject`` (the token's subject: the key of idempotency records)."""

    user_id: uuid.UUID | None
    role: str
    subject: str = ""

    def statement(self) -> str:
        """The ``SELECT`` that sets this identity for the current transaction only."""
        user = str(self.user_id) if self.user_id is not None else ""
        settings = (
            (USER_SETTING, user),
            (ROLE_SETTING, self.role),
            (SUBJECT_SETTING, self.subject),
        )
        calls = ", ".join(
            f"set_config('{name}', {_literal(value)}, true)" for name, value in settings
        )
        return f"SELECT {calls}"


ANONYMOUS = Identity(None, ANONYMOUS_ROLE)
SYSTEM = Identity(None, SYSTEM_ROLE)


def _literal(value: str) -> str:
    """``value`` as an SQL string literal (standard_conforming_strings: quotes doubled)."""
    if "\x00" in value:
        raise ValueError("NUL in an identity value")
    return "'" + value.replace("'", "''") + "'"


def identity_of(principal: Principal | None) -> Identity:
    if principal is None:
        return ANONYMOUS
    if ADMIN in principal.roles:
        role = ADMIN
    elif SERVICE in principal.roles:
        role = SERVICE
    else:
        role = USER if principal.user_id is not None else ANONYMOUS_ROLE
    return Identity(principal.user_id, role, principal.subject)


_acting: contextvars.ContextVar[Identity | MutableMapping[str, Any]] = contextvars.ContextVar(
    "profilestore_acting", default=SYSTEM
)
"""An explicit identity, or a request's state (whose ``principal`` is read when a transaction
begins: authentication sets it after the request is bound)."""


def current() -> Identity:
    acting = _acting.get()
    if isinstance(acting, Identity):
        return acting
    return identity_of(acting.get("principal"))


def bind_request(state: MutableMapping[str, Any]) -> contextvars.Token[Any]:
    """Make the request whose state this is the caller of every transaction begun in this
    context (and in tasks started from it); ``unbind`` with the token at the request's end."""
    return _acting.set(state)


def unbind(token: contextvars.Token[Any]) -> None:
    _acting.reset(token)


@contextmanager
def acting_as(identity: Identity) -> Iterator[None]:
    token = _acting.set(identity)
    try:
        yield
    finally:
        _acting.reset(token)


P = ParamSpec("P")
R = TypeVar("R")


def as_system(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``function`` as ``system`` wherever it is called from (platform work a request may
    trigger that reads every user's rows: the outbox backlog gauges)."""

    @wraps(function)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with acting_as(SYSTEM):
            return await function(*args, **kwargs)

    return run


class IdentityConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection whose transactions begin with the caller's identity: the
    ``BEGIN`` asyncpg sends to open a transaction (SQLAlchemy's, and ``platform.reads``'s) goes
    out with the identity's ``SELECT`` in the same simple-protocol message."""

    async def execute(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's signature)
    ) -> str:
        if not args and query.startswith("BEGIN"):
            query = f"{query.rstrip().rstrip(';')}; {current().statement()}"
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


def connect_arguments(role: str | None) -> dict[str, Any]:
    """asyncpg connect arguments of a process running as ``role`` (none: as the login role,
    the owner, whom the policies do not restrict)."""
    if not role:
        return {}
    return {"server_settings": {"role": role}, "connection_class": IdentityConnection}
