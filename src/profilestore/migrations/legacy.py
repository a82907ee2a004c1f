"""Databases migrated before the branches: their ``alembic_version`` holds one revision of the
old linear chain (``0001`` ... ``0011``). Each old revision did what one or more revisions of
the branches do now (the table-creating revision of a domain plus the link revision that adds
its owner keys), so a legacy database is restamped, in the migrating transaction, with the
heads of the equivalent set of new revisions; nothing of its schema or rows is touched, and
the upgrade that follows applies only what is missing (``platform_0003``'s ``owners``, say)."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from alembic.script import ScriptDirectory
from sqlalchemy import column, delete, insert, inspect, select, table
from sqlalchemy.engine import Connection

log = structlog.get_logger("profilestore.migrations")

VERSION_TABLE = "alembic_version"
VERSIONS = table(VERSION_TABLE, column("version_num"))

REPLACED_BY: dict[str, tuple[str, ...]] = {
    "0001": ("profiles_0001",),
    "0002": ("platform_0001",),
    "0003": ("social_0001", "link_social_0001"),
    "0004": ("platform_0002",),
    "0005": ("profiles_0002",),
    "0006": ("media_0001", "link_media_0001"),
    "0007": ("nutrition_0001", "link_nutrition_0001"),
    "0008": ("nutrition_0002", "link_nutrition_0002"),
    "0009": ("nutrition_0003", "link_nutrition_0003"),
    "0010": ("nutrition_0004", "link_nutrition_0004"),
    "0011": ("movement_0001", "link_movement_0001"),
}
"""What each revision of the old chain did, as revisions of the branches."""


def applied_at(legacy: str) -> set[str]:
    """Every new revision whose work a database at ``legacy`` holds."""
    chain = sorted(REPLACED_BY)
    return {rev for old in chain[: chain.index(legacy) + 1] for rev in REPLACED_BY[old]}


def heads_of(script: ScriptDirectory, revisions: Iterable[str]) -> set[str]:
    """The revisions of ``revisions`` that no other one of them needs: what Alembic keeps in
    its version table for that set."""
    revisions = set(revisions)
    needed = set().union(*(ancestors(script, rev) for rev in revisions))
    return revisions - needed


def ancestors(script: ScriptDirectory, revision: str) -> set[str]:
    """Every revision ``revision`` needs: down revisions and dependencies, transitively."""
    found: set[str] = set()
    stack = [revision]
    while stack:
        current = script.revision_map.get_revision(stack.pop())
        if current is None:
            continue
        for parent in (*_tuple(current.down_revision), *_tuple(current.dependencies)):
            if parent not in found:
                found.add(parent)
                stack.append(parent)
    return found


def adopt(connection: Connection, script: ScriptDirectory) -> str | None:
    """Restamp a database at a legacy revision with the equivalent new heads; the legacy
    revision it was at, or None (not a legacy database)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    stamped: list[str] = [row[0] for row in connection.execute(select(VERSIONS.c.version_num))]
    legacy: list[str] = [rev for rev in stamped if rev in REPLACED_BY]
    if not legacy:
        return None
    if len(stamped) != 1:
        raise RuntimeError(f"{VERSION_TABLE} mixes legacy and branch revisions: {stamped}")
    heads = sorted(heads_of(script, applied_at(legacy[0])))
    connection.execute(delete(VERSIONS))
    connection.execute(insert(VERSIONS), [{"version_num": head} for head in heads])
    log.info("legacy_revision_restamped", legacy=legacy[0], heads=heads)
    return legacy[0]


def _tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
