"""Programmatic Alembic: the CLI and the tests migrate a database through these functions."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

HERE = Path(__file__).parent


def target_metadata() -> MetaData:
    import importlib

    from profilestore.domains.registry import DOMAINS
    from profilestore.platform.db import Base

    for domain in DOMAINS:
        for module in domain.models:
            importlib.import_module(module)  # registers the domain's tables
    from profilestore.platform import idempotency as _idempotency  # noqa: F401
    from profilestore.platform.events import lease as _lease  # noqa: F401
    from profilestore.platform.events import outbox as _outbox  # noqa: F401

    return Base.metadata


def alembic_config(database_url: str, output: io.StringIO | None = None) -> Config:
    config = Config(stdout=output) if output is not None else Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    _ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str:
    _ensure_sqlite_directory(database_url)
    output = io.StringIO()
    command.current(alembic_config(database_url, output))
    return output.getvalue().strip()


def _ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
