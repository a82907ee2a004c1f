"""The user's aggregate from every installed domain's hub part.

The anchor part (identity) runs first and decides whether the caller may know the user at all
(404 otherwise). The other parts run concurrently, each on its own read session, so a part
that fails (a database error, a bug) costs only its own section: it is null and named in
``errors``, and the aggregate still answers 200. A part with no data is null and named in
``missing``; a private part the caller may not read is null and named nowhere."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from profilestore.platform import registry
from profilestore.platform.auth import Principal
from profilestore.platform.errors import ProblemError
from profilestore.platform.hub import HubPart, HubRead

log = logging.getLogger(__name__)


async def aggregate(state: Any, principal: Principal, user_id: uuid.UUID) -> dict[str, Any]:
    parts = registry.hub_parts()
    answer: dict[str, Any] = {"user_id": str(user_id)}
    missing: list[str] = []
    errors: list[dict[str, str]] = []
    for part in (p for p in parts if p.anchor):
        answer[part.name] = await _load(state, principal, user_id, part)
        if answer[part.name] is None:
            missing.append(part.name)
    others = [p for p in parts if not p.anchor]
    results = await asyncio.gather(*(_guarded(state, principal, user_id, part) for part in others))
    for part, (value, error) in zip(others, results, strict=True):
        answer[part.name] = value
        if error is not None:
            errors.append({"domain": part.name, "code": error})
        elif value is None and _readable(part, principal, user_id):
            missing.append(part.name)
    return answer | {"missing": missing, "errors": errors}


def _readable(part: HubPart, principal: Principal, user_id: uuid.UUID) -> bool:
    if not part.private:
        return True
    return principal.owns(user_id) or principal.is_admin or principal.is_service


async def _load(
    state: Any, principal: Principal, user_id: uuid.UUID, part: HubPart
) -> dict[str, Any] | None:
    if not _readable(part, principal, user_id):
        return None
    async with state.db.read_session() as session:
        return await part.load(HubRead(state, session, principal, user_id))


async def _guarded(
    state: Any, principal: Principal, user_id: uuid.UUID, part: HubPart
) -> tuple[dict[str, Any] | None, str | None]:
    """The part's section, or None and the error code that stands for its failure."""
    try:
        return await _load(state, principal, user_id, part), None
    except ProblemError as exc:
        return None, exc.code
    except Exception:
        log.exception("hub part %s failed", part.name)
        return None, "unavailable"
