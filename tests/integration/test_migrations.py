"""Alembic migrations run up and down on both backends, and match the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from profilestore.migrations import runner
from tests.support import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    with postgres_database(migrate=False) as url:
        yield url


async def _differences(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync), runner.target_metadata()
                )
            )
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    assert runner.current(empty_database) == ""
    runner.upgrade(empty_database)
    assert runner.current(empty_database).endswith("(head)")
    runner.downgrade(empty_database, "base")
    assert runner.current(empty_database) == ""
    runner.upgrade(empty_database)
    assert "(head)" in runner.current(empty_database)


def test_models_match_migrations(empty_database: str) -> None:
    runner.upgrade(empty_database)
    assert asyncio.run(_differences(empty_database)) == []
