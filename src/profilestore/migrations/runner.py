"""Programmatic Alembic: the CLI and the tests migrate a database through these functions.

The migrations are one Alembic branch per part of the service: ``platform`` (outbox, relay
leases, idempotency keys, owners) and one per domain (``profiles``, ``social``, ``media``,
``nutrition``, ``movement``), each holding only that domain's tables and depending on
``platform``. The foreign keys from a domain's ``user_id`` to ``profiles`` are in link branches
(``link_<domain>``) that depend on both, so they exist exactly where both are migrated. A
database serving a subset of the domains is upgraded to the heads whose branches are all
selected; with every domain that is ``heads``: the all-in-one schema."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from profilestore.domains import NAMES, canonical
from profilestore.migrations.legacy import ancestors, heads_of

HERE = Path(__file__).parent
PLATFORM = "platform"
LINK_PREFIX = "link_"


def target_metadata() -> MetaData:
    import importlib

    from profilestore.domains.registry import DOMAINS
    from profilestore.platform.db import Base

    for domain in DOMAINS:
        for module in domain.models:
            importlib.import_module(module)  # registers the domain's tables
    from profilestore.platform import audit as _audit  # noqa: F401
    from profilestore.platform import erasure as _erasure  # noqa: F401
    from profilestore.platform import idempotency as _idempotency  # noqa: F401
    from profilestore.platform import owners as _owners  # noqa: F401
    from profilestore.platform.events import lease as _lease  # noqa: F401
    from profilestore.platform.events import outbox as _outbox  # noqa: F401

    return Base.metadata


def alembic_config(database_url: str, output: io.StringIO | None = None) -> Config:
    config = Config(stdout=output) if output is not None else Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def targets(domains: Iterable[str] | None = None) -> tuple[str, ...]:
    """The revisions to upgrade to for a database of ``domains`` (None: every domain): each
    head whose branches (its own and those it depends on, links aside) are ``platform`` or
    selected. Every domain: ``heads``."""
    selected = set(canonical(domains)) if domains is not None else set(NAMES)
    if selected >= set(NAMES):
        return ("heads",)
    allowed = selected | {PLATFORM}
    script = script_directory()
    chosen = [head for head in script.get_heads() if branches_of(script, head) <= allowed]
    return tuple(sorted(heads_of(script, chosen)))  # a link's domain head is not asked twice


def branches_of(script: ScriptDirectory, revision: str) -> set[str]:
    """The branches (not links) that ``revision`` is on or needs."""
    labels: set[str] = set()
    for name in (revision, *ancestors(script, revision)):
        found = script.revision_map.get_revision(name)
        if found is not None:
            labels |= {label for label in found.branch_labels if not label.startswith(LINK_PREFIX)}
    return labels


def upgrade(
    database_url: str, revision: str | None = None, *, domains: Sequence[str] | None = None
) -> None:
    """Upgrade to ``revision`` if given, else to what ``domains`` (default: all) need. A
    database stamped with a revision of the old linear chain is restamped first (env.py)."""
    _ensure_sqlite_directory(database_url)
    destination: str | tuple[str, ...] = revision or targets(domains)
    command.upgrade(alembic_config(database_url), destination)  # type: ignore[arg-type]


def downgrade(database_url: str, revision: str = "-1") -> None:
    """Revert to ``revision``: ``base``, a revision id, or ``<branch>@-1`` (with several
    branches a bare ``-1`` is ambiguous and refused)."""
    if revision.startswith("-") and len(revisions_at(database_url)) > 1:
        raise CommandError(
            f"downgrade {revision} is ambiguous on a database with several branches "
            f"({', '.join(sorted(revisions_at(database_url)))}): name one, e.g. nutrition@-1"
        )
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str:
    """Alembic's report of the database's revisions, one line each (sorted)."""
    _ensure_sqlite_directory(database_url)
    output = io.StringIO()
    command.current(alembic_config(database_url, output))
    return "\n".join(sorted(output.getvalue().strip().splitlines()))


def revisions_at(database_url: str) -> set[str]:
    """The heads the database is at (``current``'s revision ids)."""
    return {line.split()[0] for line in current(database_url).splitlines() if line.strip()}


def heads(domains: Iterable[str] | None = None) -> set[str]:
    """The heads a database migrated for ``domains`` (None: all) is at."""
    selected = set(canonical(domains)) if domains is not None else set(NAMES)
    script = script_directory()
    return {
        head for head in script.get_heads() if branches_of(script, head) <= selected | {PLATFORM}
    }


def _ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
