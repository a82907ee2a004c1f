"""Events of the profiles domain, written to the outbox in the writing transaction.

Payloads carry the minimum: ids, changed field names and public values. Private values
(locale, timezone, preferences, address contents) go in only when
``PROFILESTORE_EVENTS_INCLUDE_PRIVATE=true``, because a broker's retention is hard to erase."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import audiences
from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.platform.events.outbox import emit, event_options

PREFIX = "profilestore.profiles."
PROFILE_CREATED = PREFIX + "ProfileCreated"
PROFILE_UPDATED = PREFIX + "ProfileUpdated"
PROFILE_DELETED = PREFIX + "ProfileDeleted"
PRESENCE_CHANGED = PREFIX + "PresenceChanged"
ADDRESS_ADDED = PREFIX + "AddressAdded"
ADDRESS_UPDATED = PREFIX + "AddressUpdated"
ADDRESS_REMOVED = PREFIX + "AddressRemoved"

PRIVATE_PROFILE_FIELDS = ("locale", "timezone", "preferences")


def _emit(session: AsyncSession, event_type: str, user_id: uuid.UUID, data: dict[str, Any]) -> None:
    aggregate = "address" if "Address" in event_type else "profile"
    emit(session, event_type=event_type, user_id=user_id, aggregatetype=aggregate, data=data)


def _values(session: AsyncSession, profile: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The new values of the changed fields an event carries: those every signed-in user sees
    (by the owner's audiences), and with private events on, the private ones too."""
    if event_options(session).include_private:
        shown = {*PUBLIC_FIELDS, *PRIVATE_PROFILE_FIELDS, *audiences.BUILT_IN}
    else:
        public = audiences.view(profile, "public")
        shown = {name for name in PUBLIC_FIELDS if name in public}
    return {name: profile[name] for name in fields if name in shown and name in profile}


def profile_written(
    session: AsyncSession, profile: dict[str, Any], *, created: bool, changed: list[str]
) -> None:
    user_id = profile["user_id"]
    base = {"user_id": str(user_id), "version": profile["version"]}
    if created:
        _emit(session, PROFILE_CREATED, user_id, {**base, **_values(session, profile, changed)})
    elif changed:
        values = _values(session, profile, changed)
        _emit(session, PROFILE_UPDATED, user_id, {**base, "changed": changed, "values": values})


def profile_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    _emit(session, PROFILE_DELETED, user_id, {"user_id": str(user_id)})


def presence_changed(
    session: AsyncSession, user_id: uuid.UUID, status: str, last_seen: dt.datetime, devices: int
) -> None:
    """A status transition (a heartbeat that changes nothing emits nothing)."""
    data = {
        "user_id": str(user_id),
        "status": status,
        "last_seen": last_seen.isoformat().replace("+00:00", "Z"),
        "devices": devices,
    }
    _emit(session, PRESENCE_CHANGED, user_id, data)


def address_event(session: AsyncSession, event_type: str, address: dict[str, Any]) -> None:
    data: dict[str, Any] = {
        "user_id": str(address["user_id"]),
        "address_id": str(address["id"]),
        "kind": address["kind"],
        "is_default": address["is_default"],
    }
    if event_options(session).include_private and event_type != ADDRESS_REMOVED:
        data["address"] = {
            name: address[name]
            for name in ("label", "lines", "city", "region", "postal_code", "country")
        }
    _emit(session, event_type, address["user_id"], data)
