"""The user's aggregate from every installed domain's hub part, and from the domains served
elsewhere (``PROFILESTORE_HUB_DOMAINS``, ``hub.remote``).

The anchor part (identity) decides whether the caller may know the user at all (404
otherwise). Every part, the anchor, the local ones (each on its own read session) and the
remote ones, starts at once and runs concurrently; if the anchor refuses, the others are
cancelled. A part that fails (a database error, a bug, a domain service down) costs only its
own section: it is null and named in ``errors``, and the aggregate still answers 200. A part
with no data is null and named in ``missing``; a private part the caller may not read is null
and named nowhere.

One time budget (``PROFILESTORE_HUB_TIMEOUT_MS``, counted from the aggregate's start) bounds
the sections: a section not done by then is null with the error code ``timeout``. The anchor
is local and is not cut by the budget (without it there is no answer); the database's own
timeout bounds it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from profilestore.hub.remote import Forward, Remotes, Section
from profilestore.platform import registry
from profilestore.platform.auth import Principal
from profilestore.platform.errors import ProblemError
from profilestore.platform.hub import HubPart, HubRead

log = logging.getLogger(__name__)

Loader = Callable[[], Coroutine[Any, Any, Section]]


async def aggregate(
    state: Any,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    only: frozenset[str] | None = None,
    forward: Forward | None = None,
) -> dict[str, Any]:
    """The aggregate of ``user_id`` as ``principal`` may see it.

    ``only``: the sections to load and answer (others are left out of the answer; the anchor
    still runs, as it decides whether the user exists for the caller). ``forward``: the
    caller's token and request id for the domains served elsewhere (``Forward.of(request)``);
    without it those services see no token and answer ``unauthorized``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.settings.hub_timeout_ms / 1000
    remotes: Remotes | None = getattr(state, "hub_remotes", None)
    remote_names = set(remotes.domains) if remotes is not None else set()
    wanted = (lambda name: True) if only is None else only.__contains__
    anchors = [p for p in registry.hub_parts() if p.anchor]
    loaders: dict[str, Loader] = {}
    for part in registry.hub_parts():
        if not part.anchor and part.name not in remote_names and wanted(part.name):
            loaders[part.name] = _local(state, principal, user_id, part, deadline)
    if remotes is not None:
        for name, domain in remotes.domains.items():
            if wanted(name):
                client, sent = remotes.client, forward or Forward()
                loaders[name] = _remote(domain.load, client, user_id, sent, deadline)
    order = [p.name for p in registry.hub_parts() if p.name in loaders]
    order += [name for name in loaders if name not in order]

    answer: dict[str, Any] = {"user_id": str(user_id)}
    missing: list[str] = []
    errors: list[dict[str, str]] = []
    tasks = {name: asyncio.create_task(loaders[name]()) for name in order}
    try:
        for part in anchors:
            value = await _load(state, principal, user_id, part)
            if wanted(part.name):
                answer[part.name] = value
                if value is None:
                    missing.append(part.name)
        results = await asyncio.gather(*tasks.values())
    except BaseException:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    for name, section in zip(tasks, results, strict=True):
        answer[name] = section.value
        if section.error is not None:
            errors.append({"domain": name, "code": section.error})
        elif section.missing:
            missing.append(name)
    return answer | {"missing": missing, "errors": errors}


def sections(state: Any) -> list[str]:
    """The names of the sections this process answers (its installed parts and its remote
    domains), in answer order."""
    remotes: Remotes | None = getattr(state, "hub_remotes", None)
    names = [part.name for part in registry.hub_parts()]
    return names + [name for name in (remotes.domains if remotes else ()) if name not in names]


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


def _local(
    state: Any, principal: Principal, user_id: uuid.UUID, part: HubPart, deadline: float
) -> Loader:
    async def load() -> Section:
        """The part's section, or None and the error code that stands for its failure."""
        try:
            async with asyncio.timeout_at(deadline):
                value = await _load(state, principal, user_id, part)
        except TimeoutError:
            return Section(None, "timeout")
        except ProblemError as exc:
            return Section(None, exc.code)
        except Exception:
            log.exception("hub part %s failed", part.name)
            return Section(None, "unavailable")
        return Section(value, missing=value is None and _readable(part, principal, user_id))

    return load


def _remote(
    load: Callable[[Any, uuid.UUID, Forward, float], Awaitable[Section]],
    client: Any,
    user_id: uuid.UUID,
    forward: Forward,
    deadline: float,
) -> Loader:
    async def remote() -> Section:
        try:
            return await load(client, user_id, forward, deadline)
        except Exception:
            log.exception("hub: remote part failed")
            return Section(None, "unavailable")

    return remote
