"""The domains this build serves, in mounting order. Everything that lists domains (the app's
routes, the migration metadata, viewer filters, the profile-delete cascade, the authorization
matrix test) iterates over the installed descriptors: ``DOMAINS`` (all of them) or
``selected(names)`` (those a process serves: ``PROFILESTORE_DOMAINS``); a new domain is added
here (and to ``profilestore.domains.NAMES``) and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable

from profilestore.domains import NAMES, canonical, media, movement, nutrition, profiles, social
from profilestore.platform.registry import Domain, install


def domains() -> tuple[Domain, ...]:
    return (
        profiles.descriptor(),
        social.descriptor(),
        media.descriptor(),
        nutrition.descriptor(),
        movement.descriptor(),
    )


DOMAINS = domains()
assert tuple(domain.name for domain in DOMAINS) == NAMES, "profilestore.domains.NAMES is stale"
install(DOMAINS)


def selected(names: Iterable[str] | None = None) -> tuple[Domain, ...]:
    """The descriptors of the domains ``names`` (None: all of them; aliases and ``all``
    accepted), in mounting order. A ``ValueError`` names an unknown domain, or a selected one
    that needs another that is not (social embeds profiles)."""
    chosen = canonical(names) if names is not None else NAMES
    found = tuple(domain for domain in DOMAINS if domain.name in chosen)
    for domain in found:
        missing = [name for name in domain.requires if name not in chosen]
        if missing:
            together = ",".join(name for name in NAMES if name in {*chosen, *missing})
            raise ValueError(
                f"the {domain.name} domain needs {', '.join(missing)} in the same process "
                f"(its reads embed their data): serve them together, e.g. --domains {together}"
            )
    return found
