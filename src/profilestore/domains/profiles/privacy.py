"""The owner's privacy settings: each field's audience and the private account switch
(``audiences.py`` applies them to every read)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import audiences, service
from profilestore.platform.conditional import check_if_match
from profilestore.platform.errors import invalid, not_found

SWITCH = "private_account"


def settings(profile: dict[str, Any]) -> dict[str, Any]:
    """The privacy document of ``profile``: every field's audience, which of them the owner
    set, and the switch."""
    overrides = profile.get("visibility") or {}
    shown = audiences.effective(overrides)
    return {
        "user_id": profile["user_id"],
        SWITCH: bool(profile.get(SWITCH)),
        "fields": shown,
        "overridden": sorted(name for name in overrides if name in shown),
        "version": profile["version"],
    }


def patched(
    overrides: dict[str, Any], private_account: bool, patch: dict[str, Any]
) -> tuple[dict[str, str], bool]:
    """The overrides and the switch after a merge patch: a field named with an audience gets
    it, with null its default again; ``private_account`` takes a boolean. Anything else is a
    422 naming the field."""
    known = audiences.defaults()
    result = {name: value for name, value in overrides.items() if name in known}
    for name, value in patch.items():
        if name == SWITCH:
            if not isinstance(value, bool):
                raise invalid(f"body.{SWITCH}", "must be true or false", "bool_type")
            private_account = value
        elif name in audiences.ALWAYS_SHOWN:
            raise invalid(f"body.{name}", "is always shown to every signed-in user")
        elif name not in known:
            raise invalid(f"body.{name}", f"no such field; one of {', '.join(sorted(known))}")
        elif value is None:
            result.pop(name, None)
        elif value not in audiences.AUDIENCES:
            raise invalid(f"body.{name}", "must be public, contacts, private or null", "enum")
        else:
            result[name] = value
    return result, private_account


async def update(
    session: AsyncSession, user_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> dict[str, Any]:
    """Apply a merge patch to the owner's privacy settings (a new version of the profile when
    anything changed: every cached view of it is rebuilt)."""
    current = await service.lock_profile(session, user_id)
    if current is None:
        raise not_found("profile")
    check_if_match(session, if_match, current.version)
    overrides, private_account = patched(current.visibility, current.private_account, patch)
    columns = {"visibility": overrides, SWITCH: private_account}
    change = await service.update_columns(session, current, columns)
    return change.profile


def checked(visibility: Any, private_account: Any) -> tuple[dict[str, str], bool]:
    """A whole privacy state (an exported profile's ``visibility`` and switch), checked as a
    merge patch onto the defaults; a 422 ``ProblemError`` naming the field otherwise."""
    if not isinstance(visibility, dict):
        raise invalid("body.visibility", "must be an object of field names to audiences")
    return patched({}, False, {**visibility, SWITCH: private_account})


async def replace(
    session: AsyncSession, user_id: uuid.UUID, overrides: dict[str, str], private_account: bool
) -> bool:
    """Make the (existing) profile's privacy state exactly this; whether anything changed."""
    current = await service.lock_profile(session, user_id)
    if current is None:
        raise not_found("profile")
    columns = {"visibility": overrides, SWITCH: private_account}
    return bool((await service.update_columns(session, current, columns)).changed)
