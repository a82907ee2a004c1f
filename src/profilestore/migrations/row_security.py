"""Applies ``policies``: the roles (cluster-wide), then each existing table's grants and policies,
idempotently, at the end of every migration run on PostgreSQL (``env.py``). SQLite has no row
security: nothing is done there."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection

from profilestore.migrations.policies import APP_ROLE, POLICIES, RELAY_ROLE, Policy

log = structlog.get_logger("profilestore.migrations")

ROLES = (APP_ROLE, RELAY_ROLE)
RELAY_GRANTS = {
    "outbox": "SELECT, UPDATE, DELETE",
    "relay_leases": "SELECT, INSERT, UPDATE, DELETE",
    "idempotency_keys": "SELECT, DELETE",
    "audit_log": "SELECT, DELETE",
}
"""The relay's tables: it publishes and marks the outbox, holds its lease, and prunes expired
idempotency and audit records."""

# Roles are shared by every database of the cluster, which tests (and operators) migrate in
# parallel: a concurrent creation or grant loses with duplicate_object or unique_violation,
# and is then already done. A login role that may not create roles gets a notice, not an error:
# nothing changes for a deployment that does not use them.
_CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
        GRANT {role} TO CURRENT_USER;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'profilestore: % may not create or grant role {role}', current_user;
END $$"""

COMMANDS = {
    "select": "FOR SELECT USING ({condition})",
    "insert": "FOR INSERT WITH CHECK ({condition})",
    "update": "FOR UPDATE USING ({condition}) WITH CHECK ({condition})",
    "delete": "FOR DELETE USING ({condition})",
}


def role_statement(role: str) -> str:
    """Create ``role`` if missing and make the login role a member (to ``SET ROLE`` to it)."""
    if not role.isidentifier() or role.lower() != role:
        raise ValueError(f"not a plain role name: {role!r}")
    return _CREATE_ROLE.format(role=role)


def prepare_roles(connection: Connection) -> None:
    for role in ROLES:
        connection.exec_driver_sql(role_statement(role))


def secure(connection: Connection) -> None:
    """Row security, grants and policies on every declared table of the current schema, in
    one statement (one round trip)."""
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    existing = set(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
        ).scalars()
    )
    roles = set(
        connection.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": list(ROLES)}
        ).scalars()
    )
    quote = connection.dialect.identifier_preparer.quote
    statements = [
        *_schema_grants(quote(schema), roles),
        *(
            line
            for name in sorted(existing & POLICIES.keys())
            for line in _table(quote(name), POLICIES[name], roles)
        ),
        *_relay_grants(existing, roles),
    ]
    body = "".join(f"{statement};\n" for statement in statements)
    connection.exec_driver_sql(f"DO $profilestore$ BEGIN\n{body}END $profilestore$")
    undeclared = sorted(existing - POLICIES.keys() - {"alembic_version"})
    if undeclared:
        log.warning("tables_without_policies", tables=undeclared, detail="no grant to the app role")


def _schema_grants(schema: str, roles: set[str]) -> Iterable[str]:
    for role in sorted(roles):
        yield f"GRANT USAGE ON SCHEMA {schema} TO {role}"
    if APP_ROLE in roles:
        yield f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {APP_ROLE}"


def _table(table: str, policy: Policy, roles: set[str]) -> Iterable[str]:
    yield f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"
    if APP_ROLE in roles:
        yield f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}"
    for command, condition in policy.commands().items():
        name = f"profilestore_{command}"
        yield f"DROP POLICY IF EXISTS {name} ON {table}"
        clause = COMMANDS[command].format(condition=condition)
        yield f"CREATE POLICY {name} ON {table} {clause}"


def _relay_grants(existing: set[str], roles: set[str]) -> Iterable[str]:
    if RELAY_ROLE not in roles:
        return
    for name, privileges in RELAY_GRANTS.items():
        if name in existing:
            yield f"GRANT {privileges} ON {name} TO {RELAY_ROLE}"
