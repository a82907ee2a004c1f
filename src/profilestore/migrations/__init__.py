"""Alembic migrations: one linear history, run with ``profilestore db upgrade``."""
