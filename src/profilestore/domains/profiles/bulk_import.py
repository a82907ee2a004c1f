"""Records of ``profilestore export profiles`` back into a database, through the domain's
services: the same validation as the API, the same events in the outbox.

A record is applied as a PUT of the profile (created, or replaced when it differs) and, when
it has ``addresses``, makes the user's addresses exactly those (matched by content: addresses
get new ids in another database; one that is not wanted is removed, one that is missing is
added, a wrong default is corrected). A record that matches what is stored changes nothing
and emits nothing, so importing a file twice is harmless. The fields the target keeps itself
are read and ignored: ``created_at``, ``updated_at``, ``version`` (and each address's ``id``
and ``user_id``); the privacy settings (``visibility``, ``private_account``) are applied as
``PATCH .../privacy`` would. Nothing here commits: the caller holds the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from orjson import JSONDecodeError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import addresses, privacy, service
from profilestore.domains.profiles.schemas import AddressWrite, ProfileWrite
from profilestore.platform.errors import ProblemError
from profilestore.platform.jsonutil import loads
from profilestore.platform.schemas import SERVER_KEPT

Outcome = Literal["created", "updated", "unchanged"]
T = TypeVar("T")
_USER_ID = TypeAdapter(uuid.UUID)
_PROFILE = TypeAdapter(ProfileWrite)
_ADDRESS_LIST = TypeAdapter(list[dict[str, Any]])
_ADDRESS = TypeAdapter(AddressWrite)


@dataclass(frozen=True)
class ProfileRecord:
    user_id: uuid.UUID
    profile: ProfileWrite
    addresses: list[AddressWrite] | None
    """None: the record says nothing of addresses (they stay as they are)."""
    privacy: tuple[dict[str, str], bool] = ({}, False)
    """The audiences the owner set and the private account switch."""


class RecordRefused(Exception):
    """A record that cannot be applied; ``errors`` are ``field: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_record(line: bytes) -> ProfileRecord:
    """The record of one line, or ``RecordRefused`` naming every invalid field."""
    try:
        data = loads(line)
    except JSONDecodeError:
        raise RecordRefused(["not valid JSON (one object per line)"]) from None
    if not isinstance(data, dict):
        raise RecordRefused(["not a JSON object"])
    errors: list[str] = []
    user_id = None
    if "user_id" in data:
        user_id = _validated(_USER_ID, data["user_id"], "user_id", errors)
    else:
        errors.append("user_id: required")
    fields = {k: v for k, v in data.items() if k not in ("addresses", *SERVER_KEPT, *PRIVACY)}
    profile = _validated(_PROFILE, fields, "", errors)
    wanted = _addresses(data["addresses"], errors) if "addresses" in data else None
    settings = _privacy(data, errors)
    if errors:
        raise RecordRefused(errors)
    assert user_id is not None and profile is not None and settings is not None
    return ProfileRecord(user_id, profile, wanted, settings)


PRIVACY = ("visibility", "private_account")


def _privacy(data: dict[str, Any], errors: list[str]) -> tuple[dict[str, str], bool] | None:
    try:
        return privacy.checked(data.get("visibility", {}), data.get("private_account", False))
    except ProblemError as exc:
        errors += [f"{e.field.removeprefix('body.')}: {e.message}" for e in exc.errors]
        return None


def _addresses(raw: Any, errors: list[str]) -> list[AddressWrite] | None:
    entries = _validated(_ADDRESS_LIST, raw, "addresses", errors)
    if entries is None:
        return None
    wanted = []
    for index, entry in enumerate(entries):
        written = {k: v for k, v in entry.items() if k not in ("id", *SERVER_KEPT)}
        found = _validated(_ADDRESS, written, f"addresses.{index}", errors)
        if found is not None:
            wanted.append(found)
    defaults = [a.kind for a in wanted if a.is_default]
    if len(defaults) != len(set(defaults)):
        errors.append("addresses: at most one default address per kind")
    return wanted


def _validated(adapter: TypeAdapter[T], value: Any, where: str, errors: list[str]) -> T | None:
    """``value`` as ``adapter`` validates it, or None with its errors added to ``errors``."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in (where, *error["loc"]) if part != "")
            errors.append(f"{field or 'record'}: {error['msg']}")
        return None


async def apply_record(
    session: AsyncSession, record: ProfileRecord, *, address_limit: int
) -> Outcome:
    """Create or update the profile (and its addresses) the record describes. Raises the
    services' ``ProblemError`` (a username taken, too many addresses)."""
    change = await service.put_profile(session, record.user_id, record.profile)
    moved = await privacy.replace(session, record.user_id, *record.privacy)
    if record.addresses is not None:
        moved |= await _sync_addresses(session, record.user_id, record.addresses, address_limit)
    if change.created:
        return "created"
    return "updated" if change.changed or moved else "unchanged"


def problem_lines(error: ProblemError) -> list[str]:
    """A service's refusal as ``field: message`` lines."""
    if not error.errors:
        return [error.detail]
    return [f"{e.field.removeprefix('body.')}: {e.message}" for e in error.errors]


async def _sync_addresses(
    session: AsyncSession, user_id: uuid.UUID, wanted: list[AddressWrite], limit: int
) -> bool:
    current = await addresses.list_addresses(session, user_id)
    _, spare, missing = _match(current, wanted)
    for address in spare:
        await addresses.remove_address(session, user_id, address["id"], if_match=None)
    for data in missing:
        await addresses.add_address(session, user_id, data, limit=limit)
    pairs, _, _ = _match(await addresses.list_addresses(session, user_id), wanted)
    wrong = [(a, data) for a, data in pairs if a["is_default"] != data.is_default]
    for address, data in sorted(wrong, key=lambda pair: pair[1].is_default):  # unset first
        await addresses.replace_address(session, user_id, address["id"], data, if_match=None)
    return bool(spare or missing or wrong)


def _match(
    current: Iterable[dict[str, Any]], wanted: list[AddressWrite]
) -> tuple[list[tuple[dict[str, Any], AddressWrite]], list[dict[str, Any]], list[AddressWrite]]:
    """Stored addresses paired with wanted ones of the same content (defaults aside), the
    stored ones left over, and the wanted ones not stored."""
    spare = list(current)
    pairs, missing = [], []
    for data in wanted:
        key = _content(data.model_dump())
        found = next((a for a in spare if _content(a) == key), None)
        if found is None:
            missing.append(data)
        else:
            spare.remove(found)
            pairs.append((found, data))
    return pairs, spare, missing


def _content(address: dict[str, Any]) -> tuple[Any, ...]:
    names = ("label", "kind", "city", "region", "postal_code", "country")
    return (*(address[name] for name in names), tuple(address["lines"]))
