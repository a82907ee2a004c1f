"""Alembic environment: runs migrations over the async engine of the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from profilestore.migrations import legacy, row_security
from profilestore.migrations.runner import target_metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    postgresql = connection.dialect.name == "postgresql"
    mutating = not context.get_context().opts.get("dont_mutate", False)
    if postgresql and mutating:  # roles are cluster-wide: created in a short transaction
        row_security.prepare_roles(connection)
        connection.commit()
    legacy.adopt(connection, context.script)  # a database of the old linear chain
    with context.begin_transaction():
        context.run_migrations()
        if postgresql and mutating:
            row_security.secure(connection)  # every table's policies, later revisions' too


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
