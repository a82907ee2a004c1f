"""What a transaction changed of each user's data, for the audit log (``platform.audit``):
read from the rows the ORM writes and the events it emits, merged per row, and masked as the
installed domains declare.

A row change is ``{"resource": table, "key": {column: value} (besides user_id), "op":
"created" | "updated" | "deleted", "fields": {name: {"old": .., "new": ..}}}``; a sensitive
field is ``{"changed": true}``, never its values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, Mapper, SessionTransaction

from profilestore.platform import registry
from profilestore.platform.events.outbox import OutboxRow

BOOKKEEPING = frozenset({"user_id", "version", "created_at", "updated_at"})
"""Columns that change with every write and tell nothing: never listed."""
PLATFORM_OWNED = frozenset({"owners"})
"""Platform tables keyed by user, with nothing sensitive (the owner directory's timezone)."""


@dataclass
class Captured:
    """One row written or one event emitted, in the (innermost) transaction it happened in."""

    user_id: uuid.UUID
    transaction: SessionTransaction | None
    event_type: str | None = None
    resource: str = ""
    key: dict[str, Any] = field(default_factory=dict)
    op: str = ""
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)


def captured_from(
    instance: Any, op: str, transaction: SessionTransaction | None, unaudited: str
) -> Captured | None:
    """What a flush of ``instance`` (``op``: created, updated or deleted) changes of a user's
    data: an outbox event keyed by a user, or a row of a table keyed by ``user_id`` (but the
    ``unaudited`` one); None for anything else."""
    if isinstance(instance, OutboxRow):
        return _event(instance, transaction)
    table = getattr(type(instance), "__table__", None)
    if table is None or table.name == unaudited or "user_id" not in table.columns:
        return None
    state = inspect(instance)
    key = _key(state)
    user_id = key.pop("user_id", None)
    if not isinstance(user_id, uuid.UUID):
        return None
    if op == "updated":
        old, new = _changed(state)
        if not new:
            return None
    else:
        values = _loaded(state)
        old, new = ({}, values) if op == "created" else (values, {})
    return Captured(user_id, transaction, None, str(table.name), key, op, old, new)


def _event(row: OutboxRow, transaction: SessionTransaction | None) -> Captured | None:
    try:
        user_id = uuid.UUID(row.aggregateid)
    except ValueError:
        return None  # not keyed by a user
    return Captured(user_id, transaction, row.type)


def _key(state: InstanceState[Any]) -> dict[str, Any]:
    """The row's primary key by column name (from its identity once persistent: an expired
    row's attributes are not loaded)."""
    columns = state.mapper.primary_key
    if state.identity is not None:
        return {column.name: value for column, value in zip(columns, state.identity, strict=True)}
    return {
        column.name: state.dict.get(state.mapper.get_property_by_column(column).key)
        for column in columns
    }


_listed: dict[Mapper[Any], dict[str, str]] = {}


def _listed_columns(mapper: Mapper[Any]) -> dict[str, str]:
    """Attribute key -> column name of the columns a change lists (not the key's, not the
    bookkeeping ones); worked out once per mapper."""
    found = _listed.get(mapper)
    if found is None:
        found = _listed[mapper] = {
            attribute.key: attribute.columns[0].name
            for attribute in mapper.column_attrs
            if attribute.columns[0].name not in BOOKKEEPING and not attribute.columns[0].primary_key
        }
    return found


def _loaded(state: InstanceState[Any]) -> dict[str, Any]:
    listed = _listed_columns(state.mapper)
    return {name: state.dict[key] for key, name in listed.items() if key in state.dict}


def _changed(state: InstanceState[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new) of the listed columns set since the row was loaded (an attribute that was
    not loaded has no old value: None)."""
    listed = _listed_columns(state.mapper)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in state.committed_state:
        name = listed.get(key)
        if name is None:
            continue
        history = state.attrs[key].history
        if history.added or history.deleted:
            old[name] = history.deleted[0] if history.deleted else None
            new[name] = history.added[0] if history.added else None
    return old, new


@dataclass(frozen=True)
class Policy:
    """What the installed domains declare: the tables they own, their sensitive columns
    (``table.column``) and the event types that are activity, not data."""

    owned: frozenset[str]
    sensitive: frozenset[str]
    skipped_events: frozenset[str]

    @classmethod
    def installed(cls) -> Policy:
        domains = registry.installed()
        return cls(
            owned=PLATFORM_OWNED | {t for d in domains for t in d.export_tables},
            sensitive=frozenset(name for d in domains for name in d.audit_sensitive),
            skipped_events=frozenset(name for d in domains for name in d.audit_skipped_events),
        )

    def masked(self, resource: str, name: str) -> bool:
        """A table no installed domain owns has every value masked (fail closed)."""
        return resource not in self.owned or f"{resource}.{name}" in self.sensitive


def summarize(items: list[Captured], policy: Policy) -> tuple[list[str], list[dict[str, Any]]]:
    """One user's captured changes as (event types, row changes), JSON-ready."""
    events = [i.event_type for i in items if i.event_type is not None]
    events = list(dict.fromkeys(e for e in events if e not in policy.skipped_events))
    rows = [c for c in _merged(i for i in items if i.event_type is None) if c["fields"]]
    return events, [_masked(change, policy) for change in rows]


def _merged(rows: Iterable[Captured]) -> list[dict[str, Any]]:
    """One change per row: its first old and last new values, and what happened overall."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        identity = (row.resource, repr(sorted(row.key.items())))
        found = merged.get(identity)
        if found is None:
            merged[identity] = found = {
                "resource": row.resource,
                "key": row.key,
                "first": row.op,
                "old": {},
                "new": {},
            }
        for name, value in row.old.items():
            found["old"].setdefault(name, value)
        found["new"].update(row.new)
        found["last"] = row.op
    return [change for change in map(_outcome, merged.values()) if change is not None]


def _outcome(row: dict[str, Any]) -> dict[str, Any] | None:
    """Created then deleted: nothing; created first: created; deleted last: deleted; else
    updated (a row deleted and made again too)."""
    first, last = row["first"], row["last"]
    if first == "created" and last == "deleted":
        return None
    op = "created" if first == "created" else "deleted" if last == "deleted" else "updated"
    new = {} if op == "deleted" else row["new"]
    old = {} if op == "created" else row["old"]
    fields = {
        name: {"old": old.get(name), "new": new.get(name)}
        for name in dict.fromkeys([*old, *new])
        if old.get(name) != new.get(name)
    }
    return {"resource": row["resource"], "key": row["key"], "op": op, "fields": fields}


def _masked(change: dict[str, Any], policy: Policy) -> dict[str, Any]:
    resource = change["resource"]
    fields = {
        name: {"changed": True} if policy.masked(resource, name) else values
        for name, values in change["fields"].items()
    }
    return to_jsonable_python({**change, "fields": fields})  # type: ignore[no-any-return]
