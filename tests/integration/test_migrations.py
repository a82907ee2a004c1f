"""Alembic migrations run up and down on both backends, and match the models; a database
migrated for some domains holds only their tables (and the platform's); a database of the old
linear chain is adopted by the branches without losing a row."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from profilestore.domains.registry import DOMAINS
from profilestore.migrations import legacy, runner
from profilestore.migrations.versions.profiles_0005_search import INDEXES as SEARCH_0005
from profilestore.migrations.versions.profiles_0007_search_order import INDEXES as SEARCH_0007
from profilestore.migrations.versions.profiles_0008_search_words import INDEXES as SEARCH_0008
from profilestore.platform.db import Base
from tests.support import postgres_database

LEGACY_CHAIN = Path(__file__).parent / "legacy_migrations"
PLATFORM_TABLES = {
    "outbox",
    "relay_leases",
    "idempotency_keys",
    "owners",
    "erasure_requests",
    "audit_log",
}

SEARCH_INDEXES = {**SEARCH_0005, **SEARCH_0007, **SEARCH_0008}
"""The search indexes (expressions over profiles_0005's function, not in the models)."""


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    with postgres_database(migrate=False) as url:
        yield url


def _not_search(name: str | None, kind: str, _parents: object) -> bool:
    """The search indexes are expressions over a function the migration creates
    (profiles_0005), SQLite's trigram index of the words an FTS5 table with its own tables
    (profiles_0010), none declared in the models: left out of the comparison."""
    if kind == "table":
        return not search_word_trigrams(name)
    return not (kind == "index" and name in SEARCH_INDEXES)


def search_word_trigrams(name: str | None) -> bool:
    """SQLite's FTS5 index of the search words, or one of the tables FTS5 keeps it in."""
    return name is not None and name.startswith("search_word_trigrams")


async def _differences(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": _not_search}),
                    runner.target_metadata(),
                )
            )
    finally:
        await engine.dispose()


def _on(url: str, work: Any) -> Any:
    """``work(sync connection)`` on the database at ``url``, committed."""

    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    names = _on(url, lambda sync: set(inspect(sync).get_table_names()))
    return {name for name in names if not search_word_trigrams(name)} - {
        "alembic_version",
        "sqlite_sequence",
    }


def _schema(sync: Connection) -> dict[str, Any]:
    """What the database holds, table by table: columns, keys, foreign keys (with their ON
    DELETE), indexes and unique constraints."""
    found = inspect(sync)
    schema = {}
    names = {name for name in found.get_table_names() if not search_word_trigrams(name)}
    for name in sorted(names - {"alembic_version", "sqlite_sequence"}):
        schema[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(name)
            ],
            "primary_key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign_keys": sorted(
                (fk["name"], fk["constrained_columns"], fk["referred_table"], fk["options"])
                for fk in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (ix["name"], ix["column_names"], ix["unique"]) for ix in found.get_indexes(name)
            ),
            "unique": sorted(
                (uq["name"], uq["column_names"]) for uq in found.get_unique_constraints(name)
            ),
        }
    return schema


def domain_tables(name: str) -> set[str]:
    """The tables the models of domain ``name`` declare."""
    runner.target_metadata()
    (domain,) = [d for d in DOMAINS if d.name == name]
    return {
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ in domain.models
    }


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    assert runner.current(empty_database) == ""
    runner.upgrade(empty_database)
    assert runner.revisions_at(empty_database) == runner.heads()
    assert all(line.endswith("head)") for line in runner.current(empty_database).splitlines())
    runner.downgrade(empty_database, "base")
    assert runner.current(empty_database) == ""
    assert _tables(empty_database) == set()
    runner.upgrade(empty_database)
    assert runner.revisions_at(empty_database) == runner.heads()


def test_models_match_migrations(empty_database: str) -> None:
    runner.upgrade(empty_database)
    assert asyncio.run(_differences(empty_database)) == []


def test_the_all_in_one_database_keys_every_domain_table_to_profiles(
    empty_database: str,
) -> None:
    """The link revisions put back every owner key of the old chain, ON DELETE CASCADE."""
    runner.upgrade(empty_database)
    schema = _on(empty_database, _schema)
    owner_tables = {
        table
        for domain in ("social", "media", "nutrition", "movement")
        for table in domain_tables(domain)
        if "user_id" in [column[0] for column in schema[table]["columns"]]
    }
    owner_tables.remove("follow_counts")  # written by other users' follows: no owner key
    owner_tables.remove("follow_requests")  # written by the requester: no owner key either
    assert len(owner_tables) == 19
    for table in owner_tables:
        assert schema[table]["foreign_keys"] == [
            (f"fk_{table}_user_id_profiles", ["user_id"], "profiles", {"ondelete": "CASCADE"})
        ], table


@pytest.mark.parametrize("domain", ["nutrition", "movement", "media", "profiles"])
def test_a_domain_database_holds_only_its_tables(empty_database: str, domain: str) -> None:
    runner.upgrade(empty_database, domains=[domain])
    assert _tables(empty_database) == PLATFORM_TABLES | domain_tables(domain)
    assert runner.revisions_at(empty_database) == runner.heads([domain])
    schema = _on(empty_database, _schema)
    referred = {fk[2] for table in schema.values() for fk in table["foreign_keys"]}
    assert referred <= ({"profiles"} if domain == "profiles" else set())
    # Joining the other domains later (one database again) ends at today's whole schema.
    runner.upgrade(empty_database)
    assert runner.revisions_at(empty_database) == runner.heads()
    assert asyncio.run(_differences(empty_database)) == []


def test_two_domains_share_a_database_without_links(empty_database: str) -> None:
    runner.upgrade(empty_database, domains=["nutrition", "movement"])
    wanted = PLATFORM_TABLES | domain_tables("nutrition") | domain_tables("movement")
    assert _tables(empty_database) == wanted
    runner.upgrade(empty_database, domains=["identity", "nutrition", "movement"])
    assert _tables(empty_database) == wanted | domain_tables("profiles")
    schema = _on(empty_database, _schema)
    for table in ("nutrition_body", "movement_profiles"):  # the links are applied now
        assert [fk[2] for fk in schema[table]["foreign_keys"]] == ["profiles"]


def test_every_legacy_revision_maps_to_a_closed_set_of_new_revisions() -> None:
    script = runner.script_directory()
    every = {rev.revision for rev in script.walk_revisions()}
    newer = {"platform_0003", "platform_0004", "platform_0005", "profiles_0003"}  # after legacy
    newer |= {"profiles_0004", "profiles_0005", "profiles_0006", "profiles_0007"}
    newer |= {"profiles_0008", "profiles_0009", "profiles_0010"}
    newer |= {"social_0002", "link_social_0002", "social_0003"}
    assert set().union(*legacy.REPLACED_BY.values()) == every - newer
    for old in legacy.REPLACED_BY:
        applied = legacy.applied_at(old)
        for rev in applied:
            assert legacy.ancestors(script, rev) <= applied, (old, rev)


def _legacy_upgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(LEGACY_CHAIN))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)


USER, FRIEND = uuid.uuid4(), uuid.uuid4()
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _legacy_rows(sync: Connection, at: str) -> None:
    """A few rows of a database at legacy revision ``at``."""
    status = ("status", "'offline'") if at < "0005" else ("last_seen", "NULL")  # 0005 drops it
    for user, name in ((USER, "legacy_user"), (FRIEND, "legacy_friend")):
        sync.execute(
            text(
                "INSERT INTO profiles (user_id, username, preferences, created_at, updated_at,"
                f" version, timezone, {status[0]}) VALUES (:user, :name, '{{}}', :now, :now, 1,"
                f" 'Europe/Paris', {status[1]})"
            ),
            {"user": _uuid(sync, user), "name": name, "now": NOW},
        )
    if at >= "0003":
        sync.execute(
            text(
                "INSERT INTO contacts (user_id, contact_user_id, is_favorite, created_at,"
                " updated_at, version) VALUES (:user, :friend, true, :now, :now, 1)"
            ),
            {"user": _uuid(sync, USER), "friend": _uuid(sync, FRIEND), "now": NOW},
        )
    if at >= "0007":
        sync.execute(
            text(
                "INSERT INTO nutrition_body (user_id, height_cm, units, created_at, updated_at,"
                " version) VALUES (:user, 180, 'metric', :now, :now, 1)"
            ),
            {"user": _uuid(sync, USER), "now": NOW},
        )


def _uuid(sync: Connection, value: uuid.UUID) -> Any:
    return value.hex if sync.dialect.name == "sqlite" else value


def _counts(sync: Connection) -> dict[str, int]:
    names = ("profiles", "contacts", "nutrition_body")
    present = set(inspect(sync).get_table_names())
    return {
        name: sync.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in names
        if name in present
    }


@pytest.mark.parametrize("at", ["0011", "0008", "0002"])
def test_a_legacy_database_is_adopted_without_losing_rows(
    empty_database: str, at: str, tmp_path: Path
) -> None:
    """A database of the old chain (built with the old migrations, frozen in the tests) is
    restamped with the equivalent branch revisions and upgraded: it ends at every head with
    exactly the schema of a fresh database, and keeps its rows."""
    _legacy_upgrade(empty_database, at)
    _on(empty_database, lambda sync: _legacy_rows(sync, at))
    before = _on(empty_database, _counts)
    assert before["profiles"] == 2

    runner.upgrade(empty_database)

    assert runner.revisions_at(empty_database) == runner.heads()
    assert asyncio.run(_differences(empty_database)) == []
    assert _on(empty_database, _counts) == before | {
        name: 0 for name in ("contacts", "nutrition_body") if name not in before
    }
    fresh = (
        f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        if empty_database.startswith("sqlite")
        else None
    )
    if fresh is None:
        with postgres_database() as fresh_url:
            assert _on(empty_database, _schema) == _on(fresh_url, _schema)
    else:
        runner.upgrade(fresh)
        assert _on(empty_database, _schema) == _on(fresh, _schema)


def test_a_legacy_stamp_on_todays_schema_is_a_pure_restamp(empty_database: str) -> None:
    """Legacy 0011 is today's schema but for what came after the linear chain (the owners,
    erasure and audit tables, the follows, the profiles' updated-order index, search indexes
    and audience columns): restamping
    changes nothing else (the rows stay), and the upgrade adds only what 0011 lacked."""
    runner.upgrade(empty_database)
    _on(empty_database, lambda sync: _legacy_rows(sync, "0011"))
    newer_tables = ("owners", "erasure_requests", "audit_log")
    newer_tables += ("follows", "follow_counts", "mutes", "follow_requests")
    newer_tables += ("username_holds", "username_changes")
    newer_tables += ("profile_search_words", "search_words")

    def at_0011(sync: Connection) -> None:
        for table in newer_tables:
            sync.execute(text(f"DROP TABLE {table}"))
        sync.execute(text("DROP TABLE IF EXISTS search_word_trigrams"))  # SQLite's FTS5
        sync.execute(text("DROP INDEX ix_profiles_updated_at_user_id"))
        for column in ("visibility", "private_account", "fields"):
            sync.execute(text(f"ALTER TABLE profiles DROP COLUMN {column}"))
        for index in SEARCH_INDEXES if sync.dialect.name == "postgresql" else ():
            sync.execute(text(f"DROP INDEX IF EXISTS {index}"))
        sync.execute(text("DELETE FROM alembic_version"))
        sync.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0011')"))

    _on(empty_database, at_0011)
    assert not set(newer_tables) & _tables(empty_database)
    runner.upgrade(empty_database)
    assert runner.revisions_at(empty_database) == runner.heads()
    assert set(newer_tables) <= _tables(empty_database)
    assert _on(empty_database, _counts) == {"profiles": 2, "contacts": 1, "nutrition_body": 1}


def test_the_search_words_are_filled_from_the_existing_profiles(empty_database: str) -> None:
    """profiles_0008 fills the search words of the profiles made before it, profiles_0009
    again with the kind of each: the folded words of two characters or more of each username
    and display name, and each word once."""
    runner.upgrade(empty_database, "profiles_0007")
    people = {USER: ("ann.lee_2", "Zoë Müller-Lee"), FRIEND: ("bob", None)}

    def rows(sync: Connection) -> None:
        for user, (name, display) in people.items():
            sync.execute(
                text(
                    "INSERT INTO profiles (user_id, username, display_name, preferences,"
                    " created_at, updated_at, version) VALUES (:user, :name, :display, '{}',"
                    " :now, :now, 1)"
                ),
                {"user": _uuid(sync, user), "name": name, "display": display, "now": NOW},
            )

    _on(empty_database, rows)
    runner.upgrade(empty_database)

    def words(sync: Connection) -> tuple[set[tuple[str, str, bool, bool]], list[str]]:
        owned = sync.execute(
            text("SELECT user_id, word, display_word, username_word FROM profile_search_words")
        ).all()
        known = sync.execute(text("SELECT word FROM search_words ORDER BY word")).scalars()
        rows = {(str(uuid.UUID(str(u))), w, bool(d), bool(n)) for u, w, d, n in owned}
        return rows, list(known)

    owned, known = _on(empty_database, words)
    assert owned == {  # (user, word, of the display name, of the username)
        (str(USER), "ann", False, True),  # its digits are no word
        (str(USER), "lee", True, True),
        (str(USER), "zoe", True, False),
        (str(USER), "muller", True, False),
        (str(FRIEND), "bob", False, True),
    }
    assert known == ["ann", "bob", "lee", "muller", "zoe"]
