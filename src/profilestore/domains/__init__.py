"""Vertical slices, one per domain; each owns its tables, API and events.

``NAMES`` are the domains a process can serve (``PROFILESTORE_DOMAINS``, ``profilestore serve
--domains``), in mounting order; ``profilestore.domains.registry`` holds their descriptors.
This module stays import-light: the settings validate names with it."""

from __future__ import annotations

from collections.abc import Iterable

NAMES = ("profiles", "social", "media", "nutrition", "movement")
ALIASES = {"identity": "profiles"}
ALL = "all"


def canonical(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as domain names in mounting order: aliases resolved, ``all`` expanded,
    repeats dropped. An unknown or empty selection is a ``ValueError`` naming the valid ones."""
    wanted: set[str] = set()
    unknown: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if name == ALL:
            wanted |= set(NAMES)
        elif name in NAMES or name in ALIASES:
            wanted.add(ALIASES.get(name, name))
        else:
            unknown.append(raw)
    if unknown or not wanted:
        problem = f"unknown domain {', '.join(map(repr, unknown))}" if unknown else "no domain"
        raise ValueError(f"{problem}: the domains are {valid_names()}")
    return tuple(name for name in NAMES if name in wanted)


def valid_names() -> str:
    aliases = {target: alias for alias, target in ALIASES.items()}
    listed = [f"{n} (or {aliases[n]})" if n in aliases else n for n in NAMES]
    return ", ".join(listed) + f"; or {ALL} (the default)"
