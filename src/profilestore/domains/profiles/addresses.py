"""Rules for addresses: at most one default per kind, a bounded number per user."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import events
from profilestore.domains.profiles.models import Address
from profilestore.domains.profiles.schemas import Address as AddressOut
from profilestore.domains.profiles.schemas import AddressWrite
from profilestore.domains.profiles.service import lock_profile, profile_exists
from profilestore.platform.conditional import check_if_match
from profilestore.platform.db import utcnow
from profilestore.platform.errors import ProblemError, not_found

_FIELDS = tuple(AddressOut.model_fields)


def as_dict(address: Address) -> dict[str, Any]:
    return {name: getattr(address, name) for name in _FIELDS}


async def list_addresses(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    statement = (
        select(Address).where(Address.user_id == user_id).order_by(Address.created_at, Address.id)
    )
    addresses = [as_dict(a) for a in (await session.execute(statement)).scalars()]
    if not addresses and not await profile_exists(session, user_id):
        raise not_found("profile")
    return addresses


async def get_address(
    session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID
) -> Address | None:
    statement = select(Address).where(Address.user_id == user_id, Address.id == address_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def add_address(
    session: AsyncSession, user_id: uuid.UUID, data: AddressWrite, *, limit: int
) -> dict[str, Any]:
    if await lock_profile(session, user_id) is None:
        raise not_found("profile")
    counts = await session.execute(
        select(func.count(), func.count().filter(Address.kind == data.kind)).where(
            Address.user_id == user_id
        )
    )
    total, of_kind = counts.one()
    if total >= limit:
        raise ProblemError(409, "too-many-addresses", f"A user may keep at most {limit} addresses.")
    make_default = data.is_default or of_kind == 0
    if make_default:
        await _clear_default(session, user_id, data.kind)
    now = utcnow()
    address = Address(
        user_id=user_id,
        id=uuid.uuid4(),
        **data.model_dump(exclude={"is_default"}),
        is_default=make_default,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(address)
    await session.flush()
    added = as_dict(address)
    events.address_event(session, events.ADDRESS_ADDED, added)
    return added


async def replace_address(
    session: AsyncSession,
    user_id: uuid.UUID,
    address_id: uuid.UUID,
    data: AddressWrite,
    *,
    if_match: str | None,
) -> dict[str, Any]:
    if await lock_profile(session, user_id) is None:
        raise not_found("address")
    address = await get_address(session, user_id, address_id)
    check_if_match(session, if_match, address.version if address else None)
    if address is None:
        raise not_found("address")
    if data.is_default:
        await _clear_default(session, user_id, data.kind, keep=address_id)
    for name, value in data.model_dump().items():
        setattr(address, name, value)
    address.updated_at = utcnow()
    address.version += 1
    await session.flush()
    replaced = as_dict(address)
    events.address_event(session, events.ADDRESS_UPDATED, replaced)
    return replaced


async def remove_address(
    session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID, *, if_match: str | None
) -> dict[str, Any] | None:
    """Deletes the address; if it was the default, the oldest other of its kind takes over."""
    await lock_profile(session, user_id)
    address = await get_address(session, user_id, address_id)
    check_if_match(session, if_match, address.version if address else None)
    if address is None:
        return None
    removed = as_dict(address)
    await session.delete(address)
    await session.flush()
    events.address_event(session, events.ADDRESS_REMOVED, removed)
    if removed["is_default"]:
        await _promote_oldest(session, user_id, removed["kind"])
    return removed


async def _clear_default(
    session: AsyncSession, user_id: uuid.UUID, kind: str, keep: uuid.UUID | None = None
) -> None:
    """Unset the current default of a kind (an AddressUpdated event for the one demoted)."""
    statement = select(Address).where(
        Address.user_id == user_id, Address.kind == kind, Address.is_default.is_(True)
    )
    for previous in (await session.execute(statement)).scalars():
        if previous.id == keep:
            continue
        previous.is_default = False
        previous.updated_at = utcnow()
        previous.version += 1
        await session.flush()
        events.address_event(session, events.ADDRESS_UPDATED, as_dict(previous))


async def _promote_oldest(session: AsyncSession, user_id: uuid.UUID, kind: str) -> None:
    statement = (
        select(Address)
        .where(Address.user_id == user_id, Address.kind == kind)
        .order_by(Address.created_at, Address.id)
        .limit(1)
    )
    successor = (await session.execute(statement)).scalar_one_or_none()
    if successor is not None:
        successor.is_default = True
        successor.updated_at = utcnow()
        successor.version += 1
        await session.flush()
        events.address_event(session, events.ADDRESS_UPDATED, as_dict(successor))
